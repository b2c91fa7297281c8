#!/usr/bin/python3
"""Instructions per packet from bench_forward's callgrind dumps.

bench_forward, run under `valgrind --tool=callgrind --collect-atstart=no`,
collects only its timed calls and ends each scenario with a dump whose
trigger reads "psw|<scenario>|<packets>". This prints one line per scenario
and appends one JSON object per scenario to the results file."""
import glob
import json
import re
import sys


def dumps(prefix):
    for path in sorted(glob.glob(prefix + ".*"), key=lambda p: int(p.rsplit(".", 1)[1])):
        desc = total = None
        with open(path) as f:
            for line in f:
                m = re.match(r"desc: Trigger: Client Request: psw\|(.*)\|(\d+)$", line.rstrip("\n"))
                if m:
                    desc = (m.group(1), int(m.group(2)))
                m = re.match(r"(?:summary|totals): (\d+)", line)
                if m:
                    total = int(m.group(1))
        if desc and total is not None and desc[1] > 0:
            yield desc[0], total / desc[1]


def main():
    prefix, out = sys.argv[1], sys.argv[2]
    found = list(dumps(prefix))
    if not found:
        print("no callgrind dumps under %s.*" % prefix, file=sys.stderr)
        return 1
    with open(out, "a") as f:
        for name, per_pkt in found:
            print("%-52s %10.1f instructions/pkt  (callgrind, 1 run)" % (name, per_pkt))
            f.write(json.dumps({"scenario": name + " [callgrind]", "unit": "instructions/pkt",
                                "median": round(per_pkt, 1), "min": round(per_pkt, 1),
                                "max": round(per_pkt, 1), "runs": 1,
                                "note": "instructions of the timed calls under callgrind"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
