#!/usr/bin/env python3
"""web_check.py — drives sluice-ctl web's page in a real headless Chromium
(Debian chromium + chromium-driver, through python3-selenium) for t_web.sh.

Usage: web_check.py URL STATS_JSON XSS_ID RETRY_ID TOKEN_FILE OUT_DIR [--perf N]

Prints one line per check, "ok: ..." or "FAIL: ...", then figures as
"figure: name=value". With --perf N it only measures: the page's first
contentful paint (Performance API) and the time until the queue table holds
N rows, takes a screenshot (OUT_DIR/dashboard.png) and checks the console.
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

FAILS = 0


def check(name, cond, detail=""):
    global FAILS
    if cond:
        print("ok: " + name)
    else:
        FAILS += 1
        print("FAIL: " + name + (" (" + detail + ")" if detail else ""))
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, ready, what):
    """Starts ARGV and waits (20 s at most) until READY() is true."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CHILDREN.append(p)
    deadline = time.time() + 20
    while not ready():
        if p.poll() is not None or time.time() > deadline:
            raise RuntimeError(what + " did not start")
        time.sleep(0.05)
    return p


def connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def browser():
    # Chromium and chromedriver are started here and reached at 127.0.0.1:
    # left to themselves, selenium dials chromedriver at "localhost" and
    # chromedriver dials Chromium there too, which a minimal root with no
    # /etc/hosts (CI's fresh Debian 12) cannot resolve
    profile = tempfile.mkdtemp(prefix="sluice-chromium.")
    PROFILES.append(profile)
    active = os.path.join(profile, "DevToolsActivePort")
    spawn(["/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--window-size=1400,1100", "--no-first-run",
           "--disable-extensions", "--remote-debugging-address=127.0.0.1",
           "--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank"],
          lambda: os.path.exists(active) and os.path.getsize(active) > 0, "chromium")
    with open(active) as f:
        devtools = int(f.readline())
    port = free_port()
    spawn(["/usr/bin/chromedriver", "--port=%d" % port], lambda: connectable(port), "chromedriver")
    o = webdriver.ChromeOptions()
    o.debugger_address = "127.0.0.1:%d" % devtools
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Remote(command_executor="http://127.0.0.1:%d" % port, options=o)


CHILDREN = []
PROFILES = []


@atexit.register
def stop_children():
    for p in reversed(CHILDREN):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for d in PROFILES:
        shutil.rmtree(d, ignore_errors=True)


def console_errors(d):
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def no_alert(d):
    try:
        d.switch_to.alert.dismiss()
        return False
    except NoAlertPresentException:
        return True


def rows(d, table):
    return d.find_elements(By.CSS_SELECTOR, "#%s tbody tr" % table)


def table(d, name, attr):
    """The table's rows at one instant (the page redraws them every few
    seconds): {row's data-ATTR: {cell's data-k: its text}}."""
    return d.execute_script(
        "const out = {};"
        "for (const tr of document.querySelectorAll('#' + arguments[0] + ' tbody tr')) {"
        "  const cells = {};"
        "  for (const td of tr.querySelectorAll('td[data-k]')) cells[td.dataset.k] = td.textContent;"
        "  out[tr.getAttribute('data-' + arguments[1])] = cells;"
        "}"
        "return out;", name, attr)


def click_retry(d, job_id):
    return d.execute_script(
        "const b = document.querySelector('#dead tr[data-id=\"' + arguments[0] + '\"] "
        "button[data-action=retry]');"
        "if (!b) return false; b.click(); return true;", job_id)


def perf(url, n, out_dir):
    d = browser()
    try:
        t0 = time.time()
        d.get(url)
        WebDriverWait(d, 20).until(lambda d: len(rows(d, "queues")) >= n)
        rows_ms = d.execute_script(
            "return performance.now()")  # ms since navigation start, rows are there now
        fcp = d.execute_script(
            "const e = performance.getEntriesByName('first-contentful-paint');"
            "return e.length ? e[0].startTime : null;")
        fp = d.execute_script(
            "const e = performance.getEntriesByName('first-paint');"
            "return e.length ? e[0].startTime : null;")
        check("%d queues shown" % n, len(rows(d, "queues")) >= n)
        check("first contentful paint measured", fcp is not None)
        print("figure: first_paint_ms=%s" % (round(fp) if fp is not None else "none"))
        print("figure: first_contentful_paint_ms=%s" % (round(fcp) if fcp is not None else "none"))
        print("figure: queue_rows_ms=%d (measured by the page when the check saw them; wall %d)"
              % (round(rows_ms), round((time.time() - t0) * 1000)))
        time.sleep(2.5)  # a second poll, so rates show
        note = d.find_element(By.ID, "series-note").text
        check("throughput from the archive's rollups", "archive's rollups" in note, note)
        check("dead jobs listed under load", len(rows(d, "dead")) > 0)
        lat = d.find_element(By.ID, "latency-note").text
        check("p50/p99 from the archive's rollups", "archive's rollups" in lat, lat)
        # t_web's archive holds known rollups for q001; a real archive
        # (tools/dashboard_shot.sh sets WEB_CHECK_REAL_ARCHIVE=1) does not
        if os.environ.get("WEB_CHECK_REAL_ARCHIVE") != "1":
            q1 = table(d, "queues", "queue").get("q001", {})
            check("q001's wait p50/p99 and run p50/p99 as its rollups say",
                  (q1.get("p50"), q1.get("p99"), q1.get("run_p50"), q1.get("run_p99")) ==
                  ("40 ms", "200 ms", "300 ms", "350 ms"), str(q1))
        d.save_screenshot(out_dir + "/dashboard.png")
        errs = console_errors(d)
        check("no console errors with %d queues" % n, not errs, json.dumps(errs)[:500])
    finally:
        d.quit()


def main():
    url, stats_path, xss_id, retry_id, token_file, out_dir = sys.argv[1:7]
    if len(sys.argv) > 8 and sys.argv[7] == "--perf":
        perf(url, int(sys.argv[8]), out_dir)
        sys.exit(1 if FAILS else 0)
    stats = json.load(open(stats_path))
    token = open(token_file).read().strip()
    d = browser()
    try:
        d.get(url)
        want = len(stats["queues"])
        try:
            WebDriverWait(d, 15).until(lambda d: len(rows(d, "queues")) == want and
                                       len(rows(d, "dead")) > 0)
        except TimeoutException:
            pass
        # the figures of stats --json
        got = table(d, "queues", "queue")
        check("a row per queue of stats --json", sorted(got) == sorted(stats["queues"]),
              "%s vs %s" % (sorted(got), sorted(stats["queues"])))
        bad = []
        for q, s in stats["queues"].items():
            tr = got.get(q)
            if tr is None:
                continue
            want_cells = dict(s["ready"])
            for k in ("delayed", "active", "done", "dead"):
                want_cells[k] = s[k]
            want_cells["processed"] = s["counters"]["processed"]
            want_cells["failed"] = s["counters"]["failed"]
            for k, v in want_cells.items():
                if tr.get(k) != str(v):
                    bad.append("%s.%s page=%s stats=%s" % (q, k, tr.get(k), v))
            if tr.get("paused") != ("yes" if s["paused"] else "no"):
                bad.append(q + ".paused")
        check("the page shows the figures of sluice-ctl stats --json", not bad, "; ".join(bad))
        check("workers: as many as stats --json says",
              len(rows(d, "workers")) == stats["workers"],
              "%d vs %d" % (len(rows(d, "workers")), stats["workers"]))

        # the hostile payload: shown as text, no element made of it, no alert
        dead = table(d, "dead", "id")
        x = dead.get(xss_id)
        check("the hostile dead job is listed", x is not None)
        if x is not None:
            payload = x["payload"] + " " + x["reason"]
            check("its payload is shown as text", "<img src=x onerror=alert(1)>" in payload,
                  payload[:200])
        check("no img element on the page",
              d.execute_script("return document.getElementsByTagName('img').length") == 0)
        check("no alert", no_alert(d))
        check("throughput: says there is no archive",
              "no archive" in d.find_element(By.ID, "series-note").text,
              d.find_element(By.ID, "series-note").text)
        errs = console_errors(d)
        check("no console errors after the load", not errs, json.dumps(errs)[:600])

        # actions: refused by the server without the token or with a wrong one
        post = ("const cb = arguments[arguments.length - 1];"
                "fetch('/api/retry?queue=' + arguments[0] + '&id=' + arguments[1],"
                " {method: 'POST', headers: arguments[2]})"
                ".then(r => cb(r.status)).catch(e => cb('error ' + e));")
        st = d.execute_async_script(post, "fail", retry_id, {})
        check("retry without the token: refused (401)", st == 401, str(st))
        st = d.execute_async_script(post, "fail", retry_id,
                                    {"Authorization": "Bearer wrong-" + token})
        check("retry with a wrong token: refused (401)", st == 401, str(st))
        r = dead.get(retry_id)
        check("the job to retry is listed", r is not None)
        if r is not None:
            # the button before a token is given: the page says so, nothing is sent
            click_retry(d, retry_id)
            WebDriverWait(d, 5).until(
                lambda d: "admin token" in d.find_element(By.ID, "status").text)
            check("retry before the token: the page asks for it",
                  "enter the admin token" in d.find_element(By.ID, "status").text)
            d.find_element(By.ID, "token").send_keys(token)
            d.find_element(By.ID, "token-use").click()
            check("the retry button is there", click_retry(d, retry_id))
            try:
                WebDriverWait(d, 5).until(
                    lambda d: "revived" in d.find_element(By.ID, "status").text)
            except TimeoutException:
                pass
            check("retry with the token: the page says revived",
                  "revived" in d.find_element(By.ID, "status").text,
                  d.find_element(By.ID, "status").text)
            check("the token is nowhere in the page",
                  token not in d.page_source and
                  d.find_element(By.ID, "token").get_attribute("value") == "")
        check("no alert at the end", no_alert(d))
        errs = console_errors(d)
        # the two refused fetches above log their 401s: nothing else may
        errs = [e for e in errs if "401" not in e.get("message", "")]
        check("no console errors", not errs, json.dumps(errs)[:600])
    finally:
        d.quit()
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
