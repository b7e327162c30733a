// Enqueue a Sluice job from Node with ioredis (npm install ioredis), then
// follow it until it ends. Run `sluice-ctl install` once beforehand.
const Redis = require("ioredis");

const redis = new Redis(process.env.SLUICE_REDIS_URL || "redis://127.0.0.1:6379/0");
const prefix = process.env.SLUICE_PREFIX || "sluice";
const key = `${prefix}:{message}`; // the queue, in braces: sluice:{message}

async function main() {
  const job = {
    type: "message",
    priority: "high",
    idempotency_key: "welcome-4343", // the same key again: the same job
    payload: { platform: "discord", channel_id: "4343", content: "Welcome aboard!" },
  };
  let id;
  try {
    id = await redis.call("FCALL", "sluice_enqueue", 1, key, JSON.stringify(job));
  } catch (e) { // ReplyError "ERR sluice: payload: expected object, got string"
    console.error(`refused: ${e.message}`);
    process.exit(1);
  }
  console.log("enqueued", id);

  // ready, delayed, active, done, dead or cancelled; and the stored envelope
  // (attempts, last_error, and the handler's result once it has one)
  let state, envelope;
  for (let i = 0; i < 400; i++) {
    [state, envelope] = await redis.call("FCALL_RO", "sluice_job", 1, key, id);
    if (["done", "dead", "cancelled"].includes(state)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const doc = JSON.parse(envelope);
  console.log("state", state, "attempts", doc.attempts || 0, "result", JSON.stringify(doc.result ?? null));
  redis.disconnect();
}

main();
