#!/usr/bin/env python3
"""mutate.py — a deterministic corpus of mutated job envelopes for
sluice-producer (t_producer_strict).

    python3 tests/corpus/mutate.py OUT.ndjson [COUNT] [SEED]

Takes the valid envelopes of tests/corpus/valid.ndjson and writes COUNT
lines (default 5600, seed 9), each a valid envelope mutated the ways a
careless or hostile frontend would: byte flips, truncations, deleted and
duplicated bytes and spans, inserted NULs (raw and \\u0000), control
characters, invalid UTF-8 (overlong, surrogates, > U+10FFFF, truncated),
lone surrogate escapes, duplicated members, a second value or trailing
words after the first, and numbers out of range or beyond a double's
precision. About one line in eight is left valid. A mutation never adds a
newline (it would split the line): a new 0x0a becomes 0x0b.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

INTERESTING = [0x00, 0x01, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x22, 0x2c, 0x2d,
               0x2e, 0x30, 0x31, 0x3a, 0x45, 0x5b, 0x5c, 0x5d, 0x65, 0x75, 0x7b, 0x7d,
               0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
               0xf4, 0xf5, 0xf8, 0xfe, 0xff]

INSERTS = [b"\\u0000", b"\x00", b"\x01", b"\x1f", b"\x7f", b"\t", b"\r", b"\xc0\xaf",
           b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\xc3", b"\x80",
           b"\\ud800", b"\\udfff", b"\\ud83d", b"\\ud83d\\u0041", b"\\ude00\\ud83d",
           b"\\u00", b"\\x41", b"\\", b"\"", b",", b":", b"{", b"}", b"[", b"]",
           b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\\u00e9", b"\\ud83d\\ude00", b" ", b"0"]

NUMBERS = [b"1e400", b"-1e400", b"1e-400", b"9007199254740993", b"9007199254740992",
           b"18446744073709551616", b"1152921504606846977", b"0.30000000000000004",
           b"0.12345678901234567890", b"123456789012345678901234567890", b"1e308",
           b"2.2250738585072014e-308", b"5e-324", b"-0", b"0.1", b"1e20", b"01",
           b"1.", b".5", b"+1", b"NaN", b"Infinity", b"0x10", b"1e", b"1_000",
           b"1" * 70, b"999999999999999", b"1234567890123456"]

TRAILING = [b"{}", b"{\"type\":\"noop\",\"payload\":{}}", b" trailing", b"x", b",",
            b"]", b"}", b"\x00", b" \x01", b"[]", b"null", b"1", b"\"s\""]


def mutate(rng, line):
    b = bytearray(line)
    kind = rng.randrange(14)
    at = rng.randrange(len(b) + 1)
    if kind == 0:  # flip one bit
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # one byte replaced by an interesting one
        if b:
            b[rng.randrange(len(b))] = rng.choice(INTERESTING)
    elif kind == 2:  # truncate
        del b[at:]
    elif kind == 3:  # delete a byte or a short span
        del b[at:at + rng.randrange(1, 6)]
    elif kind == 4:  # duplicate a span in place
        n = rng.randrange(1, 24)
        b[at:at] = b[at:at + n]
    elif kind in (5, 6, 7):  # insert something hostile
        b[at:at] = rng.choice(INSERTS)
    elif kind == 8:  # insert inside a string value: after an opening quote
        quotes = [i for i, c in enumerate(b) if c == 0x22]
        if quotes:
            q = rng.choice(quotes) + 1
            b[q:q] = rng.choice(INSERTS)
    elif kind == 9:  # a second value or words after the first
        b += rng.choice(TRAILING)
    elif kind == 10:  # a member duplicated (same name, maybe another value)
        i = b.find(b"\"payload\":{")
        if i >= 0:
            j = i + len(b"\"payload\":{")
            dup = rng.choice([b"\"k\":1,\"k\":2,", b"\"a\":1,\"\\u0061\":1,", b"\"type\":\"x\",",
                              b"\"n\":0,\"n\":0,"])
            b[j:j] = dup
        else:
            b[1:1] = b"\"type\":\"noop\","
    elif kind == 11:  # a number replaced
        digits = [i for i, c in enumerate(b) if 0x30 <= c <= 0x39 and (i == 0 or not 0x30 <= b[i - 1] <= 0x39)]
        if digits:
            i = rng.choice(digits)
            j = i
            while j < len(b) and (0x30 <= b[j] <= 0x39 or b[j] in b".eE+-"):
                j += 1
            b[i:j] = rng.choice(NUMBERS)
    elif kind == 12:  # two mutations
        b = bytearray(mutate(rng, bytes(b)))
        b = bytearray(mutate(rng, bytes(b)))
    else:  # a control byte between tokens
        seps = [i for i, c in enumerate(b) if c in b",:{}[]"]
        if seps:
            i = rng.choice(seps) + 1
            b[i:i] = bytes([rng.choice([0x00, 0x01, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f, 0x20, 0x09])])
    return bytes(b).replace(b"\n", b"\x0b")


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5600
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 9)
    with open(os.path.join(HERE, "valid.ndjson"), "rb") as f:
        bases = [ln for ln in f.read().split(b"\n") if ln.strip() and not ln.startswith(b"#")]
    with open(out, "wb") as f:
        for n in range(count):
            line = rng.choice(bases)
            if rng.randrange(8):
                line = mutate(rng, line)
            # blank results are skipped by the producer as blank lines: keep a byte
            f.write((line if line.strip(b" \r") else b"{") + b"\n")


if __name__ == "__main__":
    main()
