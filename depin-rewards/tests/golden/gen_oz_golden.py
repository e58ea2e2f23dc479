#!/usr/bin/env python3
"""Builds oz_tree.json with the real @openzeppelin/merkle-tree package (through
contracts/js/oz-merkle-tree.cjs). Run from this directory: python3 gen_oz_golden.py"""
import json
import subprocess

SCRIPT = "../../../contracts/js/oz-merkle-tree.cjs"


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        yield state


def claims(n, seed):
    g = lcg(seed)
    out = []
    for i in range(n):
        addr = "".join("%016x" % next(g) for _ in range(3))[:40]
        kind = i % 4
        amount = [0, 1, 2**128 - 1, next(g) * next(g)][kind] if n > 4 else next(g) % 10**24
        out.append(["0x" + addr, str(amount)])
    return out


cases = []
for n, seed in [(1, 1), (2, 2), (3, 3), (5, 5), (8, 8), (37, 37)]:
    values = claims(n, seed)
    res = subprocess.run(["node", SCRIPT], input=json.dumps({"values": values}), capture_output=True,
                         text=True, check=True)
    out = json.loads(res.stdout)
    cases.append({"values": values, "root": out["root"], "proofs": out["proofs"], "leaves": out["leaves"]})
with open("oz_tree.json", "w") as f:
    json.dump({"source": "@openzeppelin/merkle-tree 1.0.8 StandardMerkleTree.of(values, ['address','uint256'])",
               "cases": cases}, f, indent=1)
    f.write("\n")
