"""The table bench/gateway.py prints: every figure next to its baseline from the same run."""

AIM_P50_US, AIM_P99_US, AIM_RATE, AIM_FACTOR = 50, 300, 2000, 10
W = 48  # phase column


def _cpu_us_per_request(rep, key="server_cpu_s"):
    sent = rep["requests"] + rep["warmup_requests"]
    return rep[key] / sent * 1e6 if rep.get(key) is not None and sent else None


def _ratio(x, base):
    if not base:
        return "-"
    r = x / base
    return f"{r:.0f}x" if r >= 100 else f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def _num(x, fmt="{:.0f}"):
    return "-" if x is None else fmt.format(x)


def print_report(res, meta):
    print(f"\n{meta['cpus']} CPUs (shared by client, aiond and upstream); {meta['conns']} connections; "
          f"{meta['warmup']:g} s warm-up + {meta['duration']:g} s per phase; aiond workers: {meta['workers']}")
    print("sat = closed loop as fast as possible; fixed = open loop at the rate shown, latency from the "
          "scheduled send\n")
    head = (f"{'phase':{W}} {'sat ok/s':>9} {'x base':>7} {'rate/s':>7} {'p50 us':>7} {'p99 us':>8} "
            f"{'p50 x':>6} {'p99 x':>6} {'+p50 us':>8} {'+p99 us':>8} {'errors':>7} {'cpu us/req':>10}")
    print(head)
    print("-" * len(head))
    for k, r in res.items():
        sat, fixed = r["sat"], r.get("fixed")
        base = res.get(r["baseline"]) if r["baseline"] else None
        bsat, bfixed = (base["sat"], base.get("fixed")) if base else (None, None)
        name = f"{k} {r['name']}" + ("" if base else " *")
        cols = [f"{sat['rps']:>9}", f"{_ratio(sat['rps'], bsat['rps']) if bsat else '1.00x':>7}"]
        if fixed:
            p50, p99 = fixed["latency_us"]["p50"], fixed["latency_us"]["p99"]
            cols += [f"{fixed['rate']:>7}", f"{p50:>7}", f"{p99:>8}"]
            if bfixed:
                b50, b99 = bfixed["latency_us"]["p50"], bfixed["latency_us"]["p99"]
                cols += [f"{_ratio(p50, b50):>6}", f"{_ratio(p99, b99):>6}", f"{p50 - b50:>8}", f"{p99 - b99:>8}"]
            else:
                cols += [f"{'1.00x':>6}", f"{'1.00x':>6}", f"{'-':>8}", f"{'-':>8}"]
        else:
            cols += [f"{'-':>7}", f"{'-':>7}", f"{'-':>8}", f"{'-':>6}", f"{'-':>6}", f"{'-':>8}", f"{'-':>8}"]
        errors = sat["errors"] + sat["unsent"] + ((fixed["errors"] + fixed["unsent"]) if fixed else 0)
        cols += [f"{errors:>7}", f"{_num(_cpu_us_per_request(sat)):>10}"]
        print(f"{name:{W}} " + " ".join(cols))
    _print_notes(res, meta)


def _print_notes(res, meta):
    print("\n* baseline. x base: saturated ok/s over the baseline's (A for B, N, P; C for D, E).")
    print("+p50/+p99: the phase's percentile minus its baseline's at the same rate (added latency).")
    print("cpu us/req: server CPU time (user+system) during the saturation run / requests sent, of the process "
          "named in the phase (upstream for A, aiond for B-E, the proxy for N/P).")
    for k in ("D", "E"):
        if k in res:
            s = res[k]["sat"]
            full = _cpu_us_per_request(s, "server_cpu_with_drain_s")
            print(f"{k}: upstream untouched; backlog after saturation drained in {s['drain_s']:.1f} s; "
                  f"aiond CPU per task including running it: {_num(full)} us; statuses {s['statuses']}")
    b = res["B"]
    print(f"B: upstream calls during saturation {b['sat']['upstream_calls']} for "
          f"{b['sat']['requests'] + b['sat']['warmup_requests']} requests sent (one upstream call each)")

    def mib(kib):
        return f"{kib / 1024:.1f}"

    rss = " -> ".join(f"{k}{'s' if ph == 'sat' else 'f'} {mib(r[ph]['server_rss_kib'])}"
                      for ph in ("sat", "fixed") for k, r in res.items() if k in "BCDE" and r.get(ph))
    print(f"aiond RSS MiB: idle {mib(meta['aiond_idle']['VmRSS'])} -> {rss}; "
          f"peak {mib(meta['aiond_end']['VmHWM'])}   (Xs = after X at saturation, Xf = at fixed rate)")
    print(f"upstream RSS MiB: idle {mib(meta['upstream_idle']['VmRSS'])}, peak {mib(meta['upstream_end']['VmHWM'])}")
    for k in ("N", "P", "X"):
        if k in res:
            print(f"{k} RSS MiB after saturation: {mib(res[k]['sat']['server_rss_kib'])}")

    print("\nagainst the aim:")
    bf, af = b.get("fixed"), res["A"].get("fixed")
    if bf and af:
        add50 = bf["latency_us"]["p50"] - af["latency_us"]["p50"]
        add99 = bf["latency_us"]["p99"] - af["latency_us"]["p99"]
        at = f"at {bf['rate']} RPS" + ("" if bf["rate"] >= AIM_RATE else
                                      f" (the aim is stated at {AIM_RATE}; B saturates at {b['sat']['rps']})")
        print(f"  added latency {at}: p50 {add50} us (aim <= {AIM_P50_US}: {'met' if add50 <= AIM_P50_US else 'NOT met'}), "
              f"p99 {add99} us (aim <= {AIM_P99_US}: {'met' if add99 <= AIM_P99_US else 'NOT met'})")
    for k in ("N", "P"):
        if k in res:
            ratio = b["sat"]["rps"] / res[k]["sat"]["rps"]
            print(f"  saturated chat throughput, aiond / {res[k]['name'].split(':')[0]}: {ratio:.2f}x "
                  f"(aim >= {AIM_FACTOR}x: {'met' if ratio >= AIM_FACTOR else 'NOT met'})")
    if "X" in res:  # no aim: the floor any C++ gateway pays on this machine
        print(f"  saturated chat throughput, aiond / bare C++ proxy: {b['sat']['rps'] / res['X']['sat']['rps']:.2f}x; "
              f"bare C++ proxy / direct: {res['X']['sat']['rps'] / res['A']['sat']['rps']:.2f}x")
