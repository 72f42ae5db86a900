#!/usr/bin/env python3
# report.py: turns one benchmark run (hyperfine JSON of every round, GNU
# time peak RSS, the checks) into the Markdown table of bench/README.md:
# medians of the pooled runs, ratios, and each target met or not.
#
#   report.py WORK CORPUS > bench/results/latest.md

import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def pooled(work):
    """name -> {"times": [s], "user": [s], "system": [s], "rounds":
    {round file: median s}} over all rounds."""
    out = {}
    for path in sorted(glob.glob(os.path.join(work, "hf-*.json"))):
        with open(path) as f:
            for r in json.load(f)["results"]:
                d = out.setdefault(r["command"], {"times": [], "user": [],
                                                  "system": [], "rounds": {}})
                d["times"] += r["times"]
                d["user"].append(r["user"])
                d["system"].append(r["system"])
                d["rounds"][path] = statistics.median(r["times"])
    return out


def ms(x):
    return "%.1f" % (x * 1000) if x < 1 else "%.0f" % (x * 1000)


def sh(cmd):
    try:
        return subprocess.run(["sh", "-c", cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL,
                              timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def verdict(ok):
    return "**met**" if ok else "**not met**"


class Report:
    def __init__(self, work, corpus):
        self.work = work
        self.corpus = corpus
        self.hf = pooled(work)
        with open(os.path.join(work, "rss.json")) as f:
            self.rss = json.load(f)
        sysca = os.path.join(work, "rss-sysca.txt")
        if os.path.exists(sysca):
            for line in open(sysca):
                name, kib = line.split()
                self.rss.setdefault(name, []).append(int(kib))
        with open(os.path.join(work, "checks.json")) as f:
            self.checks = json.load(f)
        self.lines = []
        self.targets = []

    def med(self, name):
        return statistics.median(self.hf[name]["times"])

    def p10(self, name):
        """The 10th percentile: what a quiet machine would show."""
        t = sorted(self.hf[name]["times"])
        return t[len(t) // 10]

    def ratio(self, a, b):
        """Median over the rounds that ran both of a's / b's median: a
        paired ratio, immune to a slow round."""
        ra, rb = self.hf[a]["rounds"], self.hf[b]["rounds"]
        both = [ra[k] / rb[k] for k in ra if k in rb]
        if not both:
            return self.med(a) / self.med(b)
        return statistics.median(both)

    def cpu(self, name):
        d = self.hf[name]
        return statistics.mean(d["user"]) + statistics.mean(d["system"])

    def runs(self, name):
        return len(self.hf[name]["times"])

    def rss_med(self, name):
        return statistics.median(self.rss[name]) / 1024.0

    def rss_max(self, name):
        return max(self.rss[name]) / 1024.0

    def out(self, text=""):
        self.lines.append(text)

    def machine(self):
        self.out("# m2wo benchmark: latest run")
        self.out()
        self.out("- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
        self.out("- machine: %s CPUs, %s, Linux %s" % (
            os.cpu_count(), cpu_model(), platform.release()))
        self.out("- load average at the end: %s (other work on the machine "
                 "shows up as spread, not as a bias: every group is pooled "
                 "over rounds)" % " ".join(
                     open("/proc/loadavg").read().split()[:3]))
        self.out("- tools: %s; curl %s; %s; Python %s" % (
            sh("hyperfine --version"),
            sh("curl --version | head -1 | cut -d' ' -f2"),
            sh("dpkg-query -W -f='rt5-clients ${Version}' rt5-clients"),
            platform.python_version()))
        self.out("- m2wo built with -O2 from this tree; wall times are "
                 "hyperfine medians over %d runs per command (%d short "
                 "rounds after warm-up, pooled), shell start-up subtracted; "
                 "ratios are paired: the median over rounds of the two "
                 "commands' medians in the same round; p10 is the 10th "
                 "percentile (nearer what a quiet machine shows); CPU is "
                 "user+system (hyperfine's mean)" % (self.runs("curl-post"),
                                        len(self.hf["curl-post"]["rounds"])))
        self.out()

    def pipe(self):
        base = self.med("curl-post")
        names = [
            ("floor", "C start-up floor (bench/floor.c), no request", "0"),
            ("curl-post", "curl CLI: one HTTPS POST of the same work order",
             "1"),
            ("curl-same", "curl CLI: m2wo's 3 requests on one connection",
             "3"),
            ("m2wo-forced", "**m2wo pipe mode**, forced_debtor_number", "3"),
            ("m2wo-rules", "m2wo pipe mode, customer_rules look-ups", None),
            ("rt-mailgate", "RT rt-mailgate (Perl LWP), one POST", "1"),
            ("python", "hand-written Python gateway, same 3 requests", "3"),
        ]
        self.out("## 1. Pipe mode, 11 KB message, simulator on loopback")
        self.out()
        self.out("Simulator reset before every run (hyperfine --prepare, not "
                 "timed); each m2wo run creates one work order.")
        self.out()
        self.out("| contender | requests | wall median ms | p10 ms | CPU ms | "
                 "vs curl POST | peak RSS MiB |")
        self.out("|---|---:|---:|---:|---:|---:|---:|")
        if "m2wo-sysca" in self.hf:
            names += [
                ("curl-sysca", "curl CLI, system CAs (libcurl default: "
                 "bundle + folder), one POST", "1"),
                ("m2wo-sysca", "m2wo pipe mode, system CAs (no ca_file)",
                 "3"),
            ]
        for name, label, reqs in names:
            if name not in self.hf:
                continue
            if reqs is None:
                reqs = str(self.checks[name]["requests"])
            rss = "%.1f" % self.rss_med(name) if name in self.rss else ""
            self.out("| %s | %s | %s | %s | %s | %.2fx | %s |" % (
                label, reqs, ms(self.med(name)), ms(self.p10(name)),
                ms(self.cpu(name)), self.ratio(name, "curl-post"), rss))
        self.out()
        r = self.ratio("m2wo-forced", "curl-post")
        self.targets.append(("1", "pipe mode vs bare curl POST",
                             "<= 1.2x (then 1.0x)", "%.2fx" % r, r <= 1.2))
        rr = self.ratio("m2wo-rules", "curl-post")
        self.targets.append(("1b", "pipe mode with customer look-ups vs "
                             "curl POST", "(reported)", "%.2fx" % rr, None))
        same = self.ratio("m2wo-forced", "curl-same")
        self.targets.append(("1c", "pipe mode vs curl doing the same 3 "
                             "requests", "(reported)", "%.2fx" % same, None))
        if "m2wo-sysca" in self.hf:
            rs = self.ratio("m2wo-sysca", "curl-sysca")
            self.targets.append(("1d", "pipe mode vs curl POST, both with the "
                                 "system CAs (production)", "(reported)",
                                 "%.2fx" % rs, None))
        ends = self.checks["m2wo-rules"]["endpoints"]
        self.out("customer_rules run: %s." % ", ".join(ends))
        self.out()
        if "m2wo-sysca" in self.hf:
            self.out("The two system-CA rows run in a private mount namespace "
                     "whose /etc/ssl/certs is a copy of the system's CA store "
                     "(bundle and hashed folder) plus the simulator's "
                     "certificate: production's TLS set-up, on loopback.")
            self.out()

    def offline(self):
        floor = self.med("floor")
        self.out("## 2-3. Start-up: offline dry runs (-n --offline), same "
                 "message")
        self.out()
        self.out("The matching configuration is the **last** one, so every "
                 "other configuration is tried first.")
        self.out()
        self.out("| command | wall median ms | p10 ms | CPU ms | vs floor |")
        self.out("|---|---:|---:|---:|---:|")
        for name, label in [("floor", "C start-up floor"),
                            ("floor-early", "C floor, libraries in m2wo's "
                             "search order"),
                            ("version", "m2wo --version"),
                            ("offline-1", "1 configuration"),
                            ("offline-10", "10 configurations"),
                            ("offline-50", "50 configurations"),
                            ("offline-1000", "1,000 configurations")]:
            self.out("| %s | %s | %s | %s | %.2fx |" % (
                label, ms(self.med(name)), ms(self.p10(name)),
                ms(self.cpu(name)), self.ratio(name, "floor")))
        self.out()
        r2 = self.ratio("offline-50", "floor")
        r3 = self.ratio("offline-1000", "offline-10")
        r2b = self.ratio("offline-50", "floor-early")
        self.targets.append(("2", "50 configurations, offline, vs C floor",
                             "<= 1.3x", "%.2fx" % r2, r2 <= 1.3))
        self.targets.append(("2b", "the same vs the floor linked in m2wo's "
                             "library order", "", "%.2fx" % r2b, None))
        self.targets.append(("3", "1,000 configurations vs 10", "<= 1.5x",
                             "%.2fx" % r3, r3 <= 1.5))

    def big(self):
        self.out("## 4. Large messages (one big attachment, "
                 "parse_attachments = true)")
        self.out()
        self.out("| size | offline ms | offline RSS MiB | real run ms | "
                 "real RSS MiB | RSS / size (real) |")
        self.out("|---|---:|---:|---:|---:|---:|")
        worst = 0.0
        for mb in (1, 5, 25):
            size = os.path.getsize(os.path.join(self.work, "in",
                                                "big-%dM.eml" % mb))
            size_mib = size / 1048576.0
            ro = self.rss_max("big-offline-%d" % mb)
            rr = self.rss_max("big-real-%d" % mb)
            if mb == 25:
                worst = max(ro, rr) / size_mib
            self.out("| %.1f MB | %s | %.0f | %s | %.0f | %.1fx |" % (
                size / 1e6, ms(self.med("big-offline-%d" % mb)), ro,
                ms(self.med("big-real-%d" % mb)), rr, rr / size_mib))
        self.out()
        t = {mb: self.med("big-real-%d" % mb) for mb in (1, 5, 25)}
        o = {mb: self.med("big-offline-%d" % mb) for mb in (1, 5, 25)}
        self.out("Time per extra MB: real run %.0f ms/MB from 1 to 5 MB, %.0f "
                 "ms/MB from 5 to 25 MB; offline %.0f and %.0f ms/MB (equal "
                 "slopes mean linear)." % (
                     (t[5] - t[1]) * 1000 / 4, (t[25] - t[5]) * 1000 / 20,
                     (o[5] - o[1]) * 1000 / 4, (o[25] - o[5]) * 1000 / 20))
        self.out()
        self.targets.append(("4", "25 MB message: peak RSS / size (worse of "
                             "dry and real run)",
                             "<= 3x", "%.1fx" % worst, worst <= 3))
        s1 = (t[5] - t[1]) / 4
        s2 = (t[25] - t[5]) / 20
        lin = s2 <= 1.5 * s1
        self.targets.append(("4b", "time linear in size (slope 5-25 MB vs "
                             "1-5 MB, real run)", "<= 1.5x", "%.2fx"
                             % (s2 / s1), lin))

    def drop(self):
        if "drop-corpus" not in self.hf:
            return
        with open(os.path.join(self.work, "in", "corpus.lst")) as f:
            n = sum(1 for _ in f)
        t = self.med("drop-corpus")
        self.out("## 5. --drop -n --offline over the corpus, one process")
        self.out()
        self.out("%d messages (every .eml and .msg under %s), 50 "
                 "configurations and an Any fallback: median %.2f s, "
                 "**%.0f messages/s**, %.2f ms per message." % (
                     n, os.path.normpath(self.corpus), t, n / t,
                     t * 1000 / n))
        self.out()
        self.targets.append(("5", "--drop over the corpus", "(reported)",
                             "%.0f msg/s" % (n / t), None))

    def rss_pipe(self):
        m = self.rss_max("m2wo-forced")
        self.targets.append(("6", "peak RSS, pipe mode, 11 KB message "
                             "(max of runs)", "<= 16 MiB",
                             "%.2f MiB (median %.2f)" % (
                                 m, self.rss_med("m2wo-forced")), m <= 16))

    def before_after(self):
        pairs = [(n[:-len("-before")], n) for n in self.hf
                 if n.endswith("-before") and n[:-len("-before")] in self.hf]
        if not pairs:
            return
        self.out("## Before and after the optimisations (same run)")
        self.out()
        self.out("| figure | before ms | after ms | after / before | "
                 "before RSS MiB | after RSS MiB |")
        self.out("|---|---:|---:|---:|---:|---:|")
        for after, before in sorted(pairs):
            rb = "%.1f" % self.rss_med(before) if before in self.rss else ""
            ra = "%.1f" % self.rss_med(after) if after in self.rss else ""
            self.out("| %s | %s | %s | %.2fx | %s | %s |" % (
                after, ms(self.med(before)), ms(self.med(after)),
                self.ratio(after, before), rb, ra))
        if "offline-1000-before" in self.hf and "offline-10-before" in self.hf:
            self.out()
            self.out("1,000 / 10 configurations: before %.2fx, after %.2fx."
                     % (self.ratio("offline-1000-before", "offline-10-before"),
                        self.ratio("offline-1000", "offline-10")))
        self.out()

    def summary(self):
        self.out("## Targets")
        self.out()
        self.out("| # | figure | target | this run | |")
        self.out("|---|---|---|---:|---|")
        for num, what, target, got, ok in self.targets:
            self.out("| %s | %s | %s | %s | %s |" % (
                num, what, target, got, "" if ok is None else verdict(ok)))
        self.out()

    def write(self):
        self.machine()
        self.pipe()
        self.offline()
        self.big()
        self.drop()
        self.before_after()
        self.rss_pipe()
        body = self.lines
        self.lines = []
        self.summary()
        # Targets first, after the machine lines.
        head = body[:body.index("## 1. Pipe mode, 11 KB message, simulator "
                                "on loopback")]
        rest = body[len(head):]
        return "\n".join(head + self.lines + rest) + "\n"


def main():
    sys.stdout.write(Report(sys.argv[1], sys.argv[2]).write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
