#!/usr/bin/env python3
"""Independent generator of the golden vectors in this directory.

Written against the *rules* (exact rational arithmetic with Python's unbounded integers and
fractions), not against the Rust code, so the Rust tests compare two implementations.
Run from this directory: python3 gen_golden.py
"""
import json
from fractions import Fraction

E18 = 10**18


def lcg(seed):
    # small deterministic generator (numerical recipes LCG), 64-bit state
    state = seed & (2**64 - 1)
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        yield state


# ---------------------------------------------------------------- distribution
def distribute(pool, shares, mode):
    total = sum(s for _, s in shares)
    ids = sorted(i for i, _ in shares)
    assert len(set(ids)) == len(ids)
    by_id = dict(shares)
    out = {}
    rems = {}
    for i in ids:
        out[i] = pool * by_id[i] // total
        rems[i] = pool * by_id[i] % total
    left = pool - sum(out.values())
    cutoff = None
    unallocated = 0
    if mode == "largest_remainder":
        order = sorted(ids, key=lambda i: (-rems[i], i.encode()))
        for i in order[:left]:
            out[i] += 1
        if left > 0:
            c = order[left - 1]
            cutoff = {"remainder": str(rems[c]), "id": c}
    else:
        unallocated = left
    return {
        "payouts": [[i, str(out[i])] for i in ids],
        "unallocated": str(unallocated),
        "cutoff": cutoff,
    }


def dist_cases():
    cases = []
    cases.append(("three_equal", 100, [("a", 1), ("b", 1), ("c", 1)]))
    cases.append(("single_device", 12345, [("only", 7)]))
    cases.append(("zero_share_device", 10, [("a", 0), ("b", 3), ("c", 3)]))
    g = lcg(42)
    cases.append(("fixed_scores_50", 88_797_814_207_650,
                  [("hotspot-%03d" % k, next(g) % (3 * E18)) for k in range(50)]))
    g = lcg(7)
    cases.append(("ties_many_equal", 1_000_003, [("d%02d" % k, 1 + (k % 3)) for k in range(40)]))
    g = lcg(99)
    cases.append(("wide_256bit", 2**127 + 12345,
                  [("w%02d" % k, (next(g) << 64 | next(g)) >> 30) for k in range(25)]))
    g = lcg(5)
    cases.append(("dust_pool", 7, [("x%02d" % k, next(g) % 1000 + 1) for k in range(20)]))
    out = []
    for name, pool, shares in cases:
        c = {"name": name, "pool": str(pool), "shares": [[i, str(s)] for i, s in shares]}
        c["largest_remainder"] = distribute(pool, shares, "largest_remainder")
        c["floor"] = distribute(pool, shares, "floor")
        out.append(c)
    return out


# ---------------------------------------------------------------- emission
def floor_frac(x):
    return x.numerator // x.denominator


def dimo(week):
    return floor_frac(Fraction(1_105_000 * E18) * Fraction(17, 20) ** (week // 52))


def dimo_cum(weeks):
    return sum(dimo(w) for w in range(weeks))


def halving(initial, interval, e):
    return initial >> (e // interval) if e // interval < 128 else 0


def emission_cases():
    weeks = [0, 1, 51, 52, 53, 103, 104, 156, 520, 1040, 5200, 17_680, 17_732, 20_000]
    cum_weeks = [0, 1, 52, 53, 520, 2000]
    return {
        "dimo_weekly": {
            "emission": [[w, str(dimo(w))] for w in weeks],
            "cumulative": [[w, str(dimo_cum(w))] for w in cum_weeks],
        },
        "halving": {
            "initial": str(50 * 10**8), "interval": 210_000,
            "emission": [[e, str(halving(50 * 10**8, 210_000, e))]
                         for e in [0, 209_999, 210_000, 420_000, 6_929_999, 6_930_000, 10**9]],
        },
    }


# ---------------------------------------------------------------- HIP-15
def round_half_even(x, decimals):
    scaled = x * 10**decimals
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    return q  # in units of 10^-decimals


def beacon_units(n):
    if n <= 4:
        return Fraction(n, 4)
    return min(Fraction(2), 2 - Fraction(4, 5) ** (n - 4))


def witness_units(n):
    if n == 0:
        return Fraction(0)
    if n <= 4:
        return Fraction(1)
    return min(Fraction(2), (4 - (1 - Fraction(4, 5) ** (n - 4))) / n)


def fmt_units(u, decimals):
    s = str(u).rjust(decimals + 1, "0")
    i, f = s[:-decimals], s[-decimals:].rstrip("0")
    return i if not f else i + "." + f


def hip15_cases():
    ns = list(range(0, 31)) + [44, 45, 46, 48, 49, 50, 64, 100, 1000, 5000]
    return [
        {"witnesses": n,
         "beaconer": fmt_units(round_half_even(beacon_units(n), 4), 4),
         "witness": fmt_units(round_half_even(witness_units(n), 4), 4)}
        for n in ns
    ]


if __name__ == "__main__":
    with open("distribution.json", "w") as f:
        json.dump({"source": "gen_golden.py (exact integers)", "cases": dist_cases()}, f, indent=1)
        f.write("\n")
    with open("emission.json", "w") as f:
        json.dump({"source": "gen_golden.py (exact fractions)", **emission_cases()}, f, indent=1)
        f.write("\n")
    with open("hip15.json", "w") as f:
        json.dump({"source": "gen_golden.py (exact fractions, half-even at 4 decimals)",
                   "cases": hip15_cases()}, f, indent=1)
        f.write("\n")
