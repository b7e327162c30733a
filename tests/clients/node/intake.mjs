// Enqueue a Sluice job from Node over HTTP (the intake, sluice-producer
// serve) with the built-in fetch (Node 18+), then wait for it to end.
const base = process.env.SLUICE_INTAKE_URL ?? "http://127.0.0.1:8787";
const headers = {
  Authorization: `Bearer ${process.env.SLUICE_INTAKE_TOKEN}`, // from sluice-producer token new
  "Content-Type": "application/json",
};

const job = {
  type: "message", queue: "message", priority: "high",
  payload: { platform: "discord", channel_id: "4646", content: "Welcome aboard!" },
};
// the same Idempotency-Key again: the same job, sent once
let res = await fetch(`${base}/v1/jobs`, {
  method: "POST", body: JSON.stringify(job),
  headers: { ...headers, "Idempotency-Key": "welcome-4646" },
});
let doc = await res.json();
if (res.status !== 201 && res.status !== 202) { // 202: spooled, Redis was out of reach
  console.error(`refused (${res.status}):`, doc.error); // {field, message}
  process.exit(1);
}
console.log("enqueued", doc.id);

// held until the job is done, dead or cancelled (or 30 s pass)
res = await fetch(`${base}/v1/jobs/${doc.id}?queue=message&wait=30`, { headers });
doc = await res.json();
console.log("state", doc.state, "attempts", doc.attempts, "result", JSON.stringify(doc.result));
