#!/usr/bin/python3
"""Write an mbox spool as Postfix's local(8) writes /var/mail/USER.

    mkspool.py OUT --messages N [--size-mb M] [--seed S] [--append]

For unit and integration tests and for benchmarks of the spool index.
Each message is a From_ line ("From sender  Sat Nov 28 04:36:21 2026",
two spaces as Postfix writes it), the headers local(8) and smtpd add
(Return-Path, X-Original-To, Delivered-To, Received), the client's own
(Date, From, To, Subject, Message-ID, MIME), the body, and a blank line.
Body lines that begin with "From " are written ">From " (mboxo quoting,
as Postfix does); lines that already begin with ">From " stay as they are.

The mix: plain text (about half), quoted-printable UTF-8 (a fifth), and
multipart/mixed with a base64 attachment (the rest, and most of the
bytes); RFC 2047 subjects and display names in ISO-8859-1 and UTF-8;
some lines of a few KB.  Sizes are drawn so that the spool comes close to
--size-mb (default: about 10.5 KiB a message, so 100000 messages make
about 1 GiB).  The same seed gives the same bytes.

It is fast because it writes slices of a few pools of text built once
(cut at line ends), joined into chunks of several MB: a 1 GiB spool
takes seconds.  Prints "N messages, B bytes" at the end.
"""

import argparse
import base64
import bisect
import email.header
import quopri
import random
import sys
import time

DEFAULT_AVG = 10 * 1024 + 512   # bytes a message when --size-mb is not given
WRITE_CHUNK = 8 << 20
POOL_TEXT = 2 << 20
POOL_QP = 1 << 20
POOL_B64 = 6 << 20
START = 1767225600              # Thu Jan  1 00:00:00 2026 UTC

WORDS = ("the lab mail server postfix spool message student group router "
         "client packet capture smtp relay domain address queue delivery "
         "network vlan dhcp resolver alias record answer reply command "
         "data quit hello test from where when which about report").split()
WORDS_FR = ("été à Paris élève groupe réseau adresse serveur capture "
            "paquet réponse commande données fenêtre répertoire "
            "configuration déjà où ça Noël forêt garçon cœur").split()

PEOPLE = [
    ("Darth Vader", "darth@starwars.univ"),
    ("Luke Skywalker", "luke@rebels.univ"),
    ("Élodie Dupré", "elodie@mail181.com"),
    ("François Lefèvre", "francois@mail181.com"),
    ("Zoë Müller", "zoe@example.org"),
    ("山田太郎", "taro@example.jp"),
    ("", "root@mail181.com"),
    ("Leia Organa", "leia@rebels.univ"),
]

SUBJECTS = [
    "TP SMTP: compte rendu du groupe 181",
    "Re: question about the capture",
    "Été à Paris — réunion de groupe",
    "Réseau: la passerelle ne répond plus",
    "Fwd: résultats du TP",
    "weekly report",
    "Ça marche enfin ✓",
    "hello from the client",
    "Noël: fermeture du labo",
]


def encoded_word(text, charset):
    """RFC 2047 form of text, or text itself if it is ASCII."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return email.header.Header(text, charset).encode()


def header_choices():
    """Subjects and From/To values, encoded once, ISO-8859-1 or UTF-8."""
    subjects, people = [], []
    for s in SUBJECTS:
        for cs in ("iso-8859-1", "utf-8"):
            try:
                s.encode(cs)
            except UnicodeEncodeError:
                continue
            subjects.append(encoded_word(s, cs))
    for name, addr in PEOPLE:
        for cs in ("iso-8859-1", "utf-8"):
            try:
                name.encode(cs)
            except UnicodeEncodeError:
                continue
            shown = encoded_word(name, cs) if name else ""
            people.append((shown + " <%s>" % addr if shown else addr,
                           addr))
    return subjects, people


def mboxo(line):
    """Postfix's quoting of a body line."""
    return b">" + line if line.startswith(b"From ") else line


class Pool:
    """A block of lines, sliced at line ends."""

    def __init__(self, lines):
        self.data = b"".join(lines)
        self.ends = []
        n = 0
        for line in lines:
            n += len(line)
            self.ends.append(n)

    def take(self, rng, size):
        """About size bytes of whole lines from a random place."""
        out, got = [], 0
        while got < size:
            want = size - got
            i = rng.randrange(len(self.ends))
            start = self.ends[i - 1] if i else 0
            j = bisect.bisect_left(self.ends, start + want)
            end = self.ends[min(j, len(self.ends) - 1)]
            if end <= start:
                end = self.ends[-1]
            out.append(self.data[start:end])
            got += end - start
        return b"".join(out)


def text_pool(rng):
    """Plain text lines: wrapped words, some long lines, "From " lines."""
    lines, n = [], 0
    while n < POOL_TEXT:
        r = rng.random()
        if r < 0.02:
            words = rng.choices(WORDS, k=rng.randrange(80, 500))
        elif r < 0.12:
            words = []
        else:
            words = rng.choices(WORDS, k=rng.randrange(6, 13))
        line = " ".join(words)
        if r > 0.985:
            line = "From " + line
        elif r > 0.98:
            line = ">From " + line
        line = mboxo(line.encode() + b"\n")
        lines.append(line)
        n += len(line)
    return Pool(lines)


def qp_pool(rng):
    """Quoted-printable UTF-8 lines (soft breaks kept inside a line)."""
    lines, n = [], 0
    while n < POOL_QP:
        words = rng.choices(WORDS + WORDS_FR, k=rng.randrange(4, 20))
        if rng.random() < 0.02:
            words = ["From"] + words
        raw = " ".join(words).encode("utf-8") + b"\n"
        enc = quopri.encodestring(raw)
        line = b"".join(mboxo(x) for x in enc.splitlines(keepends=True))
        lines.append(line)
        n += len(line)
    return Pool(lines)


def b64_pool(rng):
    """Base64 lines of 76 characters."""
    data = base64.encodebytes(rng.randbytes(POOL_B64 // 4 * 3))
    return Pool(data.splitlines(keepends=True))


class Writer:
    """Messages as Postfix appends them, joined into big writes."""

    def __init__(self, out, rng, pools, choices):
        self.out = out
        self.rng = rng
        self.text, self.qp, self.b64 = pools
        self.subjects, self.people = choices
        self.parts = []
        self.pending = 0
        self.total = 0
        self.when = START

    def emit(self, b):
        self.parts.append(b)
        self.pending += len(b)
        if self.pending >= WRITE_CHUNK:
            self.flush()

    def flush(self):
        self.out.write(b"".join(self.parts))
        self.total += self.pending
        self.parts, self.pending = [], 0

    def headers(self, n, ctype):
        rng = self.rng
        self.when += rng.randrange(1, 600)
        t = time.gmtime(self.when)
        sender, env = rng.choice(self.people)
        if rng.random() < 0.02:
            env = "MAILER-DAEMON"
        zone = rng.choice((0, 3600))
        d = time.strftime("%a, %d %b %Y %H:%M:%S", time.gmtime(
            self.when + zone)) + (" +0100 (CET)" if zone else " +0000")
        qid = "%010X" % rng.randrange(1 << 40)
        h = ("From %s  %s\n"
             "Return-Path: <%s>\n"
             "X-Original-To: root@mail181.com\n"
             "Delivered-To: root@mail181.com\n"
             "Received: from [172.20.181.1] (unknown [172.20.181.1])\n"
             "\tby smtp181.mail181.com (Postfix) with ESMTP id %s\n"
             "\tfor <root@mail181.com>; %s\n"
             "Date: %s\n"
             "From: %s\n"
             "To: root@mail181.com\n"
             "Subject: %s\n"
             "Message-ID: <%s.%d@mail181.com>\n"
             "MIME-Version: 1.0\n"
             "%s\n") % (
                 env, time.strftime("%a %b %e %H:%M:%S %Y", t),
                 env if env != "MAILER-DAEMON" else "",
                 qid, d, d, sender, rng.choice(self.subjects),
                 time.strftime("%Y%m%d%H%M%S", t), n, ctype)
        return h.encode("ascii")

    def message(self, n, kind, size):
        """One message of a kind (0 text, 1 quoted-printable, 2 with an
        attachment) and about size bytes."""
        rng = self.rng
        if kind == 0:
            h = self.headers(n, "Content-Type: text/plain; charset=us-ascii")
            self.emit(h + b"\n")
            self.emit(self.text.take(rng, max(size - len(h), 40)))
        elif kind == 1:
            h = self.headers(n, "Content-Type: text/plain; charset=utf-8\n"
                             "Content-Transfer-Encoding: quoted-printable")
            self.emit(h + b"\n")
            self.emit(self.qp.take(rng, max(size - len(h), 40)))
        else:
            b = "=_labmail_%d_%x" % (n, rng.randrange(1 << 32))
            h = self.headers(n, 'Content-Type: multipart/mixed; '
                             'boundary="%s"' % b)
            text = self.text.take(rng, rng.randrange(100, 800))
            name = rng.choice(("rapport.pdf", "capture.pcap",
                               "=?UTF-8?Q?r=C3=A9sultats=2Epdf?="))
            head = ("\nThis is a multi-part message in MIME format.\n\n"
                    "--%s\nContent-Type: text/plain; charset=us-ascii\n\n"
                    % b).encode() + text + (
                    "\n--%s\nContent-Type: application/octet-stream; "
                    "name=\"%s\"\nContent-Disposition: attachment; "
                    "filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n"
                    % (b, name, name)).encode()
            tail = ("\n--%s--\n" % b).encode()
            self.emit(h + head)
            self.emit(self.b64.take(rng, max(size - len(h) - len(head)
                                             - len(tail), 77)))
            self.emit(tail)
        self.emit(b"\n")        # local(8) ends each message with a blank line


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--size-mb", type=float,
                    help="approximate size in MiB (default: about "
                    "%d bytes a message)" % DEFAULT_AVG)
    ap.add_argument("--seed", type=int, default=181)
    ap.add_argument("--append", action="store_true",
                    help="add to OUT instead of replacing it")
    args = ap.parse_args()
    if args.messages < 0:
        ap.error("--messages must be at least 0")

    rng = random.Random(args.seed)
    pools = (text_pool(rng), qp_pool(rng), b64_pool(rng))
    target = (int(args.size_mb * 1024 * 1024) if args.size_mb is not None
              else args.messages * DEFAULT_AVG)
    # Share of the bytes a kind of message gets, relative to the mean:
    # text 0.4, quoted-printable 0.6, attachments the rest (2.27).
    scale = {0: 0.4, 1: 0.6, 2: 2.27}
    with open(args.out, "ab" if args.append else "wb") as out:
        w = Writer(out, rng, pools, header_choices())
        for i in range(args.messages):
            left = args.messages - i
            avg = max((target - w.total - w.pending) / left, 0)
            kind = rng.choices((0, 1, 2), weights=(50, 20, 30))[0]
            size = int(avg * scale[kind] * rng.uniform(0.5, 1.5))
            w.message(i + 1, kind, size)
        w.flush()
    print("%d messages, %d bytes (%.1f MiB)" % (
        args.messages, w.total, w.total / 1048576))


if __name__ == "__main__":
    main()
