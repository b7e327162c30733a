"""apps.py — helpers for tools/bench.sh's interview and Telegram runs
(python3 only, no packages): makes the jobs, then reads the fake's request
log and prints one JSON line of figures.

  apps.py interviews-jobs N GUILD          > jobs.ndjson
  apps.py interviews-report LOG T0_MS N LIST_MS CREATE_MS SEND_MS LIMIT WINDOW_MS
  apps.py telegram-jobs CHATS PER_CHAT QUEUE > jobs.ndjson
  apps.py telegram-report LOG T0_MS CHATS PER_CHAT
"""
import json
import sys


def interviews_jobs(n, guild):
    for i in range(n):
        u = str(int(guild) * 1000 + i)
        print(json.dumps({"type": "interview", "payload": {
            "guild_id": guild, "user_id": u, "application_id": "bench-%s" % u,
            "reviewer_role_id": "900",
            "intro": {"template": "Hi {user}! Thanks for applying.", "vars": {}},
            "followup": {"reminders": 0}}}))


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def interviews_report(log, t0, n, list_ms, create_ms, send_ms, limit, window_ms):
    rows = read_log(log)
    creates = sorted((r for r in rows if r["route"] == "create_channel" and r["status"] < 300),
                     key=lambda r: r["t_ms"])
    intros = sorted((r for r in rows if r["route"] == "create_message" and r.get("delivered")),
                    key=lambda r: r["t_ms"])
    lim = [r for r in rows if r["status"] == 429]
    # the floor: the guild listing answered, then LIMIT creates per window,
    # a window opening the moment the previous one ends, the last create
    # answered, its intro answered
    windows = -(-n // limit)
    floor_ch = (list_ms + (windows - 1) * window_ms + create_ms) / 1000.0
    floor_intro = floor_ch + send_ms / 1000.0
    out = {"test": "interviews", "interviews": n, "channels_created": len(creates),
           "intros_delivered": len(intros), "rate_limited": len(lim),
           "rate_limited_routes": sorted({r["route"] for r in lim}),
           "list_channels": sum(1 for r in rows if r["route"] == "list_channels")}
    if creates:
        last_ch = (creates[-1]["t_ms"] + creates[-1]["latency_ms"] - t0) / 1000.0
        out["s_to_last_channel"] = round(last_ch, 3)
        out["floor_s_last_channel"] = floor_ch
        out["ratio_last_channel"] = round(last_ch / floor_ch, 4)
        out["first_create_after_s"] = round((creates[0]["t_ms"] - t0) / 1000.0, 3)
        # the fake's windows: one opens at the first create after the last
        # one ended; how late each opened after the previous one's end
        starts, start = [], None
        for r in creates:
            if start is None or r["t_ms"] >= start + window_ms:
                start = r["t_ms"]
                starts.append(start)
        out["windows"] = len(starts)
        lates = [starts[i] - starts[i - 1] - window_ms for i in range(1, len(starts))]
        out["window_open_late_ms"] = {"mean": round(sum(lates) / len(lates)) if lates else 0,
                                      "max": max(lates) if lates else 0}
    if intros:
        last = (intros[-1]["t_ms"] + intros[-1]["latency_ms"] - t0) / 1000.0
        out["s_to_last_intro"] = round(last, 3)
        out["floor_s_last_intro"] = floor_intro
        out["ratio_last_intro"] = round(last / floor_intro, 4)
    out["ok"] = len(creates) == n and len(intros) == n and not lim
    print(json.dumps(out))


def telegram_jobs(chats, per_chat, queue):
    for i in range(per_chat):
        for c in range(chats):
            print(json.dumps({"type": "message", "queue": queue, "payload": {
                "platform": "telegram", "chat_id": 7000 + c, "text": "chat %d msg %d" % (c, i)}}))


def telegram_report(log, t0, chats, per_chat):
    rows = [r for r in read_log(log) if r["route"] == "sendMessage"]
    ok = [r for r in rows if r["status"] == 200]
    by_chat = {}
    for r in ok:
        by_chat.setdefault(r["chat_id"], []).append(r["t_ms"])
    closest = {}
    for c, ts in sorted(by_chat.items()):
        ts.sort()
        gaps = [ts[i] - ts[i - 1] for i in range(1, len(ts))]
        closest[c] = min(gaps) if gaps else None
    gaps = [g for g in closest.values() if g is not None]
    end = max(r["t_ms"] + r["latency_ms"] for r in ok) if ok else t0
    out = {"test": "telegram", "chats": chats, "per_chat": per_chat, "delivered": len(ok),
           "rate_limited": sum(1 for r in rows if r["status"] == 429),
           "closest_ms_per_chat": closest, "closest_ms": min(gaps) if gaps else None,
           "s_to_last": round((end - t0) / 1000.0, 3)}
    out["ok"] = len(ok) == chats * per_chat and out["rate_limited"] == 0
    print(json.dumps(out))


def main(argv):
    cmd, a = argv[1], argv[2:]
    if cmd == "interviews-jobs":
        interviews_jobs(int(a[0]), a[1])
    elif cmd == "interviews-report":
        interviews_report(a[0], int(a[1]), *map(int, a[2:]))
    elif cmd == "telegram-jobs":
        telegram_jobs(int(a[0]), int(a[1]), a[2])
    elif cmd == "telegram-report":
        telegram_report(a[0], int(a[1]), int(a[2]), int(a[3]))
    else:
        sys.exit("apps.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
