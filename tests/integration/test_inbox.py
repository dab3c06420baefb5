"""Login (real PAM), sessions, and the inbox over real /var/mail spools.

Test users are made with useradd/chpasswd; mail reaches them through a
private Postfix on loopback, or as spools the tests write themselves to
cover the mbox cases met in the field.
"""

import base64
import concurrent.futures
import hashlib
import hmac
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import labtest

NEEDS_ROOT = unittest.skipUnless(labtest.is_root(),
                                 "needs root: test users, PAM, spools")


def write_spool(user, data, mode=0o600):
    """Put data in user's spool as local(8) would leave it."""
    with open(user.spool, "wb") as f:
        f.write(data)
    shutil.chown(user.spool, user.name, "mail")
    os.chmod(user.spool, mode)


def message(sender, subject, body, date="Sat Nov 28 04:36:21 2026",
            headers="", from_header=None):
    return ("From %s  %s\nReturn-Path: <%s>\nFrom: %s\nTo: x@mail181.com\n"
            "Subject: %s\nDate: Sat, 28 Nov 2026 04:36:21 +0000\n%s\n%s\n\n"
            % (sender, date, sender, from_header or sender, subject, headers,
               body)).encode()


def login(b, user, password):
    return b.post("/login", {"user": user, "password": password,
                             "csrf_token": b.csrf("/login")})


@NEEDS_ROOT
class Login(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.alice = labtest.TestUser()
        cls.bob = labtest.TestUser()
        write_spool(cls.alice, message("luke@rebels.univ", "for alice",
                                       "alice's secret"))
        write_spool(cls.bob, message("han@falcon.univ", "for bob",
                                     "bob's secret"))
        cls.lm = labtest.Labmail(smtp_port=labtest.free_port())

    @classmethod
    def tearDownClass(cls):
        cls.lm.cleanup()
        cls.alice.remove()
        cls.bob.remove()

    def setUp(self):
        self.b = labtest.Browser(self.lm.base)

    def test_inbox_needs_login(self):
        r = self.b.get("/inbox")
        self.assertEqual(r.status, 401)
        self.assertIn('name="password"', r.text)
        self.assertIn('<p class="notice info" role="alert">Log in to read '
                      'your mail.</p>', r.text)
        self.assertEqual(self.b.get("/inbox/1").status, 401)

    def test_good_login_then_inbox(self):
        r = login(self.b, self.alice.name, self.alice.password)
        self.assertEqual(r.status, 303)
        self.assertTrue(r.headers["Location"].endswith("/inbox"))
        cookie = [c for c in r.headers.get_all("Set-Cookie")
                  if c.startswith("labmail_session=")][0]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        r = self.b.get("/inbox")
        self.assertEqual(r.status, 200)
        self.assertIn("for alice", r.text)
        self.assertNotIn("for bob", r.text)
        self.assertIn("alice&#39;s secret", self.b.get("/inbox/1").text)

    def test_login_leads_back_to_the_page_that_asked(self):
        """The login form shown for /inbox/1 leads there once logged
        in; a user name typed with a blank after it still logs in."""
        b = labtest.Browser(self.lm.base)
        r = b.get("/inbox/1")
        self.assertEqual(r.status, 401)
        self.assertIn('name="next" value="/inbox/1"', r.text)
        r = b.post("/login", {"user": self.alice.name + " ",
                              "password": self.alice.password,
                              "next": "/inbox/1",
                              "csrf_token": b.csrf("/login")})
        self.assertEqual(r.status, 303)
        self.assertTrue(r.headers["Location"].endswith("/inbox/1"),
                        r.headers["Location"])

    def test_login_never_leads_off_the_site(self):
        """next is a path of ours, or the inbox: never another site
        (an open redirect), nor a header broken by a line end."""
        for bad in ("//evil.example/x", "https://evil.example/",
                    "/\\evil.example", "/inbox\r\nSet-Cookie: x=1",
                    "inbox", "/in box"):
            b = labtest.Browser(self.lm.base)
            r = b.post("/login", {"user": self.alice.name,
                                  "password": self.alice.password,
                                  "next": bad, "csrf_token": b.csrf("/login")})
            self.assertEqual(r.status, 303, bad)
            self.assertEqual(r.headers["Location"], "/inbox",
                             bad)

    def test_wrong_password(self):
        r = login(self.b, self.alice.name, "not-the-password")
        self.assertEqual(r.status, 401)
        self.assertIn('<p class="notice" role="alert">', r.text)
        self.assertIn('value="%s"' % self.alice.name, r.text)
        self.assertNotIn("not-the-password", r.text)
        self.assertIsNone(self.b.cookie("labmail_session"))

    def test_unknown_and_odd_user_names(self):
        for name in ("nosuchuser", "../etc", "root/../x", "a b", "-x"):
            self.assertEqual(login(self.b, name, "x").status, 401, name)

    def test_oversized_input_is_denied_not_fatal(self):
        """A cookie or a password too long for a message to the helper
        is denied, and labmail stays up."""
        huge = "a" * 5000
        r = self.b.get("/inbox", {"Cookie": "labmail_session=" + huge})
        self.assertEqual(r.status, 401)
        self.assertEqual(login(self.b, self.alice.name, huge).status, 401)
        self.assertEqual(login(self.b, huge, "x").status, 401)
        r = login(self.b, self.alice.name, self.alice.password)
        self.assertEqual(r.status, 303)
        self.assertEqual(self.b.get("/inbox").status, 200)

    def test_session_ends_with_its_account(self):
        carol = labtest.TestUser()
        self.addCleanup(carol.remove)
        self.assertEqual(login(self.b, carol.name, carol.password).status,
                         303)
        self.assertEqual(self.b.get("/inbox").status, 200)
        subprocess.run(["userdel", carol.name], check=True)
        r = self.b.get("/inbox")
        self.assertEqual(r.status, 401)
        # Not "Logged in as carol" either: the session itself is gone.
        r = self.b.get("/login")
        self.assertIn('name="password"', r.text)
        self.assertNotIn(carol.name, r.text)

    def test_root_refused(self):
        r = login(self.b, "root", "whatever")
        self.assertEqual(r.status, 403)
        self.assertIn("root may not log in", r.text)

    def test_csrf_required(self):
        r = self.b.post("/login", {"user": self.alice.name,
                                   "password": self.alice.password})
        self.assertEqual(r.status, 403)

    def test_logout_revokes_the_token(self):
        login(self.b, self.bob.name, self.bob.password)
        token = self.b.cookie("labmail_session")
        self.assertEqual(self.b.get("/inbox").status, 200)
        r = self.b.post("/logout", {"csrf_token": self.b.csrf("/login")})
        self.assertEqual(r.status, 303)
        # The login form says it, as a piece of news, not an error.
        self.assertEqual(r.headers["Location"], "/login?logged_out=1")
        self.assertIn('<p class="notice info" role="alert">You are logged '
                      'out.</p>', self.b.get(r.headers["Location"]).text)
        # A copy of the old cookie is refused from now on.
        thief = labtest.Browser(self.lm.base)
        r = thief.get("/inbox", {"Cookie": "labmail_session=" + token})
        self.assertEqual(r.status, 401)

    def test_revoked_file_drops_expired_lines(self):
        """The file of logged-out sessions, past 64 KiB, is cut down to
        the sessions not yet expired; those stay refused."""
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        login(b, self.bob.name, self.bob.password)
        token = b.cookie("labmail_session")
        b.post("/logout", {"csrf_token": b.csrf("/login")})
        path = os.path.join(lm.state_dir, "revoked")
        with open(path) as f:
            live = f.read()
        self.assertEqual(len(live.splitlines()), 1)
        past = int(time.time()) - 60
        with open(path, "a") as f:
            for i in range(3000):
                f.write("%022d %d\n" % (i, past))
        self.assertGreater(os.path.getsize(path), 64 * 1024)
        login(b, self.alice.name, self.alice.password)
        b.post("/logout", {"csrf_token": b.csrf("/login")})
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[0], live.strip())
        # A process that knows only the file still refuses bob's token.
        again = labtest.Labmail(smtp_port=labtest.free_port(),
                                state_dir=lm.state_dir)
        self.addCleanup(again.cleanup)
        r = labtest.Browser(again.base).get(
            "/inbox", {"Cookie": "labmail_session=" + token})
        self.assertEqual(r.status, 401)

    def test_tampered_tokens(self):
        login(self.b, self.alice.name, self.alice.password)
        token = self.b.cookie("labmail_session")
        version, payload, mac = token.split(".")
        fields = base64.urlsafe_b64decode(payload + "==").split(b"\n")
        fields[0] = self.bob.name.encode()       # pretend to be bob
        forged = version + "." + base64.urlsafe_b64encode(
            b"\n".join(fields)).decode().rstrip("=") + "." + mac
        for bad in (forged, token[:-2] + "AA", "v1.x.y", "garbage", ""):
            r = labtest.Browser(self.lm.base).get(
                "/inbox", {"Cookie": "labmail_session=" + bad})
            self.assertEqual(r.status, 401, bad)

    def forge(self, user, issued, seen):
        """A session token for user, signed with labmail's own key."""
        with open(os.path.join(self.lm.state_dir, "session.key"), "rb") as f:
            key = f.read()
        payload = base64.urlsafe_b64encode(("%s\n%d\n%d\n%s" % (
            user, issued, seen, "A" * 22)).encode()).decode().rstrip("=")
        signed = "v1." + payload
        mac = base64.urlsafe_b64encode(hmac.new(
            key, signed.encode(), hashlib.sha256).digest()
        ).decode().rstrip("=")
        return "%s.%s" % (signed, mac)

    def inbox_with(self, token):
        return labtest.Browser(self.lm.base).get(
            "/inbox", {"Cookie": "labmail_session=" + token}).status

    def test_expired_token_with_the_real_key(self):
        now = int(time.time())
        for issued, seen in ((now - 13 * 3600, now - 60),   # too old
                             (now - 3600, now - 31 * 60)):  # idle
            token = self.forge(self.alice.name, issued, seen)
            self.assertEqual(self.inbox_with(token), 401)
        self.assertEqual(os.stat(os.path.join(
            self.lm.state_dir, "session.key")).st_mode & 0o777, 0o600)

    def test_session_ends_with_an_expired_account(self):
        """An account that expires (usermod -e) loses its session when
        the session is next renewed, a minute at most: PAM's account
        checks run again then, not only at login."""
        user = labtest.TestUser()
        self.addCleanup(user.remove)
        write_spool(user, message("luke@rebels.univ", "hi", "body"))
        now = int(time.time())
        due = self.forge(user.name, now - 600, now - 120)
        self.assertEqual(self.inbox_with(due), 200)
        subprocess.run(["usermod", "-e", "1", user.name], check=True)
        self.assertEqual(self.inbox_with(due), 401)

    def test_session_survives_restart(self):
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        b = labtest.Browser(lm.base)
        login(b, self.alice.name, self.alice.password)
        token = b.cookie("labmail_session")
        lm.stop()
        again = labtest.Labmail(smtp_port=labtest.free_port(),
                                state_dir=lm.state_dir)
        self.addCleanup(lm.cleanup)
        self.addCleanup(again.cleanup)
        r = labtest.Browser(again.base).get(
            "/inbox", {"Cookie": "labmail_session=" + token})
        self.assertEqual(r.status, 200)
        self.assertIn("for alice", r.text)

    def test_send_proposes_the_users_address(self):
        login(self.b, self.alice.name, self.alice.password)
        r = self.b.get("/send")
        self.assertIn('value="%s@mail181.com"' % self.alice.name, r.text)


@NEEDS_ROOT
class ManyUsers(unittest.TestCase):
    """More users than the 64 indexes labmail keeps in memory
    (route_inbox.c), reading their mail at the same time: indexes are
    dropped and made again, and every page shows its own user's mail."""

    def test_more_users_than_cached_indexes(self):
        users = [labtest.TestUser() for _ in range(70)]
        for u in users:
            self.addCleanup(u.remove)
            write_spool(u, message("x@y.z", "mail of " + u.name, "hi"))
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        browsers = []
        for u in users:
            b = labtest.Browser(lm.base)
            self.assertEqual(login(b, u.name, u.password).status, 303)
            browsers.append((u, b))

        def read_all(pairs):
            for u, b in pairs * 3:
                r = b.get("/inbox")
                if r.status != 200 or "mail of " + u.name not in r.text:
                    return "%s: %d" % (u.name, r.status)
            return None

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(read_all, [browsers[i::8]
                                               for i in range(8)]))
        self.assertEqual(results, [None] * 8)
        self.assertEqual(lm.proc.poll(), None, "labmail died")


def fill(path, line, when, mode="a"):
    """Put 10,000 failure counts in a throttle file (the most priv.c
    keeps), line formatted with the four bytes of a 10/8 address and
    the start of the count's window, when."""
    with open(path, mode) as f:
        for i in range(10000):
            f.write(line % (i >> 16, (i >> 8) & 255, i & 255, when))


@NEEDS_ROOT
class Throttling(unittest.TestCase):

    def test_failures_slow_down_then_429(self):
        user = labtest.TestUser()
        self.addCleanup(user.remove)
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        statuses = [login(b, user.name, "wrong").status for _ in range(6)]
        self.assertEqual(statuses[:4], [401] * 4)
        self.assertEqual(statuses[-1], 429)
        # A name that is no account is counted alike: the answers do not
        # tell which names are accounts.
        self.assertEqual([login(b, "nosuchuser42", "wrong").status
                          for _ in range(6)], statuses)
        r = login(b, user.name, user.password)     # even the right one
        self.assertEqual(r.status, 429)
        self.assertGreater(int(r.headers["Retry-After"]), 0)
        self.assertLessEqual(int(r.headers["Retry-After"]), 300)
        # The page says how long, as the header does.
        wait = re.search(r"wait (\d+) seconds?, then try again", r.text)
        self.assertIsNotNone(wait, "no wait on the page")
        self.assertLessEqual(abs(int(wait.group(1)) -
                                 int(r.headers["Retry-After"])), 1)

    def test_no_counts_no_logins(self):
        """Without its file of failure counts (under CGI, the only
        memory they have) the helper checks no password at all."""
        user = labtest.TestUser()
        self.addCleanup(user.remove)
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        os.mkdir(os.path.join(lm.state_dir, "throttle"))
        b = labtest.Browser(lm.base)
        r = login(b, user.name, user.password)
        self.assertEqual(r.status, 503)
        self.assertIn("cannot keep its count of failed logins", r.text)
        self.assertGreater(int(r.headers["Retry-After"]), 0)
        self.assertIsNone(b.cookie("labmail_session"))

    def test_a_full_table_keeps_the_blocks(self):
        """When the table of failure counts is full (10,000 entries in
        priv.c), the counts that no longer matter make room: never the
        block on a user."""
        user, other = labtest.TestUser(), labtest.TestUser()
        self.addCleanup(user.remove)
        self.addCleanup(other.remove)
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        for _ in range(6):
            login(b, user.name, "wrong")
        path = os.path.join(lm.state_dir, "throttle")
        with open(path) as f:
            live = f.read()
        self.assertIn("u:%s " % user.name, live)
        # Counts from half an hour ago, as a flood of addresses leaves.
        fill(path, "a:10.%d.%d.%d 1 %d 0\n", int(time.time()) - 1800)
        # A new count has to be made room for, then the blocked user's
        # right password: still refused.
        self.assertEqual(login(b, other.name, "wrong").status, 401)
        self.assertEqual(login(b, user.name, user.password).status, 429)
        self.assertEqual(login(b, other.name, other.password).status, 303)
        # Full of live counts below their limit: they go, the block
        # stays.
        now = int(time.time())
        fill(path, "a:10.%d.%d.%d 1 %d 0\n", now)
        self.assertEqual(login(b, other.name, other.password).status, 303)
        self.assertEqual(login(b, user.name, user.password).status, 429)
        # Full of blocks: no room, so a new count is refused.
        fill(path, "a:10.%d.%d.%d 9 %d " + str(now + 600) + "\n", now,
             mode="w")
        self.assertEqual(login(b, other.name, other.password).status, 429)


@NEEDS_ROOT
class Spools(unittest.TestCase):
    """Spools as found in the field, read through the pages."""

    def setUp(self):
        self.user = labtest.TestUser()
        self.addCleanup(self.user.remove)
        self.lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(self.lm.cleanup)
        self.b = labtest.Browser(self.lm.base)
        login(self.b, self.user.name, self.user.password)

    def subjects(self, page=""):
        r = self.b.get("/inbox" + page)
        self.assertEqual(r.status, 200, r.text[:500])
        return re.findall(r'class="subject"><a href="[^"]+">([^<]*)<', r.text)

    def test_no_spool_yet(self):
        """No spool yet: the page says where mail to this user comes
        from, and shows no empty table or pager."""
        r = self.b.get("/inbox")
        self.assertEqual(r.status, 200)
        self.assertIn('<p class="empty" >No mail yet. Mail to <code>%s@'
                      'mail181.com</code>' % self.user.name, r.text)
        self.assertRegex(r.text, r'<div hidden>\s*<p class="count">0 '
                         r'messages')
        r = self.b.get("/inbox/1")
        self.assertEqual(r.status, 404)
        self.assertIn("There is no such message: your mailbox is empty.",
                      r.text)

    def test_empty_spool(self):
        write_spool(self.user, b"")
        self.assertEqual(self.subjects(), [])

    def test_newest_first_and_stable_numbers(self):
        write_spool(self.user, message("a@x.y", "one", "1") +
                    message("a@x.y", "two", "2"))
        self.assertEqual(self.subjects(), ["two", "one"])
        self.assertIn("2 messages in your mailbox", self.b.get("/inbox").text)
        self.assertIn(">one<", self.b.get("/inbox/1").text)
        with open(self.user.spool, "ab") as f:
            f.write(message("a@x.y", "three", "3"))
        self.assertEqual(self.subjects(), ["three", "two", "one"])
        self.assertIn(">one<", self.b.get("/inbox/1").text)
        r = self.b.get("/inbox")
        self.assertEqual(len(re.findall(r'<tr class="new">', r.text)), 0)

    def test_new_mail_marked(self):
        write_spool(self.user, message("a@x.y", "old", "1"))
        self.subjects()
        self.assertIn("1 message in your mailbox", self.b.get("/inbox").text)
        with open(self.user.spool, "ab") as f:
            f.write(message("a@x.y", "fresh", "2"))
        r = self.b.get("/inbox")
        new = re.findall(r'<tr class="new">.*?class="subject"><a[^>]*>([^<]*)<',
                         r.text)
        self.assertEqual(new, ["fresh"])

    def test_crlf_no_final_newline_junk_before_first(self):
        data = (b"junk before the first From line\r\n\r\n" +
                message("a@x.y", "crlf", "body").replace(b"\n", b"\r\n") +
                message("b@x.y", "last", "no newline").rstrip(b"\n"))
        write_spool(self.user, data)
        self.assertEqual(self.subjects(), ["last", "crlf"])
        self.assertIn("no newline", self.b.get("/inbox/2").text)

    def test_from_lines_in_bodies(self):
        body = ">From the quoted line\n\nFrom here it is plain text\nend"
        write_spool(self.user, message("a@x.y", "quoted", body))
        self.assertEqual(self.subjects(), ["quoted"])
        text = self.b.get("/inbox/1").text
        self.assertIn('<pre class="body">From the quoted line', text)
        self.assertIn("From here it is plain text", text)

    def test_paging_and_bad_numbers(self):
        write_spool(self.user, b"".join(
            message("a@x.y", "m%d" % i, "b") for i in range(1, 121)))
        self.assertEqual(self.subjects()[:2], ["m120", "m119"])
        self.assertEqual(len(self.subjects()), 50)
        self.assertEqual(self.subjects("?page=3"), ["m%d" % i
                                                    for i in range(20, 0, -1)])
        for bad in ("?page=0", "?page=-1", "?page=4", "?page=abc",
                    "?page=99999999999999999999"):
            self.assertEqual(self.b.get("/inbox" + bad).status, 404, bad)
        for bad in ("/0", "/121", "/-1", "/abc", "/1/nope", "/1/part/0",
                    "/1/part/99", "/99999999999999999999", "/1/raw/x"):
            self.assertEqual(self.b.get("/inbox" + bad).status, 404, bad)
        # A number the mailbox lacks is named as such, not echoed.
        r = self.b.get("/inbox/121")
        self.assertIn("There is no such message: your mailbox holds 120",
                      r.text)
        self.assertNotIn("121", r.text)

    def test_hostile_mail_is_inert(self):
        html = ("<html><body><script>alert(1)</script>"
                "<img src=http://127.0.0.2/track.png onerror=alert(2)>"
                "<a href=\"javascript:alert(3)\">x</a></body></html>")
        headers = ("MIME-Version: 1.0\nContent-Type: multipart/alternative;"
                   " boundary=XX\n")
        body = ("--XX\nContent-Type: text/plain\n\nplain <b>text</b>\n"
                "--XX\nContent-Type: text/html\n\n%s\n--XX--" % html)
        write_spool(self.user, message(
            "evil@x.y", "<img src=x onerror=alert(5)> =?utf-8?q?=3Cscript=3E?=",
            body, headers=headers,
            from_header='"<script>alert(4)</script>" <evil@x.y>'))
        r = self.b.get("/inbox")
        self.assertNotIn("<script>alert", r.text)
        self.assertNotIn("<img src=x", r.text)
        self.assertIn("&lt;img src=x onerror=alert(5)&gt;", r.text)
        r = self.b.get("/inbox/1")
        self.assertNotIn("<script>", r.text)
        self.assertNotIn("<b>text</b>", r.text)
        self.assertIn("plain &lt;b&gt;text&lt;/b&gt;", r.text)
        self.assertIn('<iframe sandbox src="/inbox/1/part/2/view"', r.text)
        self.assertIn("script-src", "script-src " +
                      r.headers["Content-Security-Policy"])
        self.assertNotIn("unsafe-inline", r.headers["Content-Security-Policy"]
                         .split("style-src")[0])
        v = self.b.get("/inbox/1/part/2/view")
        self.assertEqual(v.status, 200)
        csp = v.headers["Content-Security-Policy"]
        self.assertIn("sandbox", csp)
        self.assertIn("default-src 'none'", csp)
        self.assertEqual(v.headers["X-Content-Type-Options"], "nosniff")
        # The part has no name: the download gets one, not "2".
        d = self.b.get("/inbox/1/part/2")
        self.assertEqual(d.headers["Content-Type"], "application/octet-stream")
        self.assertEqual(d.headers["Content-Disposition"],
                         "attachment; filename*=UTF-8''message-1-part-2.html")

    def test_empty_part_and_bidi_subject(self):
        # Found by the fuzz targets: an empty text part killed the web
        # process when opened; a bidi override in a subject reordered
        # the inbox list ("invoice<U+202E>fdp.exe").
        headers = ("MIME-Version: 1.0\nContent-Type: multipart/mixed;"
                   " boundary=XX\n")
        body = ("--XX\nContent-Type: text/plain\n\n"
                "--XX\nContent-Type: text/plain\n\nsecond part\n--XX--")
        write_spool(self.user, message("a@x.y", "empty part", body,
                                       headers=headers) +
                    message("b@x.y", "invoice\u202efdp.exe", "b"))
        self.assertEqual(self.subjects(),
                         ["invoice\ufffdfdp.exe", "empty part"])
        r = self.b.get("/inbox/1")
        self.assertEqual(r.status, 200)
        self.assertIn("second part", r.text)
        self.assertEqual(self.b.get("/inbox/1/part/1").status, 200)
        self.assertEqual(self.b.get("/guide").status, 200)

    def test_raw_and_attachment(self):
        payload = bytes(range(256)) * 4
        b64 = base64.encodebytes(payload).decode()
        headers = ("MIME-Version: 1.0\nContent-Type: multipart/mixed;"
                   " boundary=XX\n")
        body = ("--XX\nContent-Type: text/plain; charset=iso-8859-1\n"
                "Content-Transfer-Encoding: quoted-printable\n\n"
                "caf=E9\n--XX\nContent-Type: application/octet-stream;"
                " name=\"../../etc/x.bin\"\nContent-Disposition: attachment;"
                " filename=\"../../etc/x.bin\"\nContent-Transfer-Encoding:"
                " base64\n\n%s--XX--" % b64)
        write_spool(self.user, message("a@x.y", "with attachment", body,
                                       headers=headers))
        r = self.b.get("/inbox")
        self.assertIn('<td class="att" title="attachment"><img class="icon '
                      'attachment" src="/static/attachment.svg" '
                      'alt="attachment"></td>', r.text)
        r = self.b.get("/inbox/1")
        self.assertIn("café", r.text)
        self.assertIn("x.bin", r.text)
        a = self.b.get("/inbox/1/part/2")
        self.assertEqual(a.status, 200)
        self.assertEqual(a.body, payload)
        self.assertTrue(a.headers["Content-Disposition"].startswith(
            "attachment"))
        self.assertNotIn("/", a.headers["Content-Disposition"].split("''")[1])
        self.assertEqual(a.headers["X-Content-Type-Options"], "nosniff")
        raw = self.b.get("/inbox/1/raw")
        self.assertTrue(raw.headers["Content-Type"].startswith("text/plain"))
        self.assertIn(b"Subject: with attachment", raw.body)

    def test_spool_that_is_a_symlink_is_refused(self):
        other = labtest.TestUser()
        self.addCleanup(other.remove)
        write_spool(other, message("a@x.y", "other's mail", "private"))
        os.symlink(other.spool, self.user.spool)
        r = self.b.get("/inbox")
        self.assertEqual(r.status, 500)
        self.assertNotIn("other&#39;s mail", r.text)


@NEEDS_ROOT
class StateFolderTrouble(unittest.TestCase):
    """The logouts written in the state folder keep a logged-out cookie
    worthless: when they cannot be read, no session holds; when a logout
    cannot be written, the page says so."""

    def setUp(self):
        self.user = labtest.TestUser()
        self.addCleanup(self.user.remove)
        write_spool(self.user, message("a@x.y", "hello", "hi"))
        self.state = tempfile.mkdtemp(prefix="labmail-state-")
        self.addCleanup(shutil.rmtree, self.state, True)
        lm = labtest.Labmail(state_dir=self.state)
        self.b = labtest.Browser(lm.base)
        login(self.b, self.user.name, self.user.password)
        self.assertEqual(self.b.get("/inbox").status, 200)
        lm.cleanup()

    def restart(self, wrapper=()):
        """labmail again on the same state folder; the session goes on."""
        lm = labtest.Labmail(state_dir=self.state, wrapper=wrapper)
        self.addCleanup(lm.cleanup)
        self.b.base = lm.base

    def test_unreadable_logouts_hold_no_session(self):
        os.mkdir(os.path.join(self.state, "revoked"))   # read() fails
        self.restart()
        self.assertEqual(self.b.get("/inbox").status, 401)

    def test_logout_while_logouts_cannot_be_read_is_told(self):
        os.mkdir(os.path.join(self.state, "revoked"))   # no read, no write
        self.restart()
        self.assertTrue(self.b.cookie("labmail_session"))
        r = self.b.post("/logout", {"csrf_token": self.b.csrf("/login")})
        self.assertEqual(r.status, 503)

    def test_logout_after_a_cut_line_holds(self):
        """A write cut short (a full disk) leaves a line without its end:
        the next logout starts a line of its own, or it would be lost in
        that one and hold for no other process."""
        with open(os.path.join(self.state, "revoked"), "w") as f:
            f.write("cut-short")
        self.restart()
        token = self.b.cookie("labmail_session")
        r = self.b.post("/logout", {"csrf_token": self.b.csrf("/inbox")})
        self.assertEqual(r.status, 303)
        self.restart()          # a process that knows only the file
        r = self.b.get("/inbox", {"Cookie": "labmail_session=" + token})
        self.assertEqual(r.status, 401)

    def test_logout_not_written_is_told(self):
        if subprocess.run(["unshare", "--mount", "--propagation", "private",
                           "true"], stderr=subprocess.DEVNULL).returncode:
            self.skipTest("no mount namespace can be made here")
        read_only = ("unshare", "--mount", "--propagation", "private",
                     "sh", "-c", 'mount --bind "$0" "$0" && '
                     'mount -o remount,bind,ro "$0" && exec "$@"',
                     self.state)
        self.restart(read_only)
        self.assertEqual(self.b.get("/inbox").status, 200)
        r = self.b.post("/logout", {"csrf_token": self.b.csrf("/inbox")})
        self.assertEqual(r.status, 503)
        self.assertIn("could not record it", r.text)
        self.assertFalse(self.b.cookie("labmail_session"))


@NEEDS_ROOT
class PostfixToInbox(unittest.TestCase):
    """Sent through /send, delivered by Postfix, read on /inbox."""

    def test_round_trip(self):
        postfix = labtest.Postfix()
        self.addCleanup(postfix.stop)
        user = labtest.TestUser()
        self.addCleanup(user.remove)
        lm = labtest.Labmail(smtp_port=postfix.port)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        r = b.post("/send", {"from": "darth@starwars.univ",
                             "to": "%s@mail181.com" % user.name,
                             "subject": "Round trip é", "body": "hello\n.\n",
                             "csrf_token": b.csrf()})
        self.assertEqual(r.status, 200, r.text)
        qid = re.search(r'id="queue-id">([0-9A-F]+)<', r.text).group(1)
        user.wait_mail()
        login(b, user.name, user.password)
        r = b.get("/inbox")
        self.assertIn("Round trip é", r.text)
        m = b.get("/inbox/1").text
        self.assertIn(qid, m)                  # in the Received chain
        self.assertIn("darth@starwars.univ", m)
        # Postfix's local(8) wrote the envelope sender as Return-Path.
        self.assertIn('Envelope sender</dt><dd ><code>&lt;darth@starwars.'
                      'univ&gt;</code>', m)


    def test_every_sender_postfix_takes_starts_a_message(self):
        """Postfix writes the envelope sender into the From_ line as the
        client gave it: a control character, or 1500 bytes of it, must
        not turn that line into body text, which would hide the message
        in the one before."""
        postfix = labtest.Postfix()
        self.addCleanup(postfix.stop)
        user = labtest.TestUser()
        self.addCleanup(user.remove)
        rcpt = "%s@%s" % (user.name, labtest.DOMAIN)
        senders = (b"teacher@mail181.com", b'"x\x01y"@evil.example',
                   b"a" * 1500 + b"@evil.example")
        for i, sender in enumerate(senders):
            smtp_deliver(postfix.port, sender, rcpt.encode(),
                         b"Subject: message %d\r\n\r\nbody %d\r\n"
                         % (i, i))
        user.wait_mail(3)
        lm = labtest.Labmail(smtp_port=postfix.port)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        login(b, user.name, user.password)
        # Each message a page of its own, whatever order Postfix
        # delivered them in (its queue manager may reorder them).
        shown = [sorted(re.findall(r"body (\d)", b.get("/inbox/%d" % n).text))
                 for n in (1, 2, 3)]
        self.assertEqual(sorted(shown), [["0"], ["1"], ["2"]])
        self.assertEqual(b.get("/inbox/4").status, 404)


def smtp_deliver(port, sender, rcpt, data):
    """One mail by a bare SMTP dialogue (bytes as given, no quoting) to
    the test Postfix on loopback."""
    with socket.create_connection((labtest.LOOPBACK, port), 10) as s:
        f = s.makefile("rwb")

        def reply(expect):
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    break
            if not line.startswith(expect):
                raise AssertionError("%r after %r" % (line, last))
        last = b"(connect)"
        reply(b"220")
        for last, expect in ((b"EHLO [127.0.0.1]", b"250"),
                             (b"MAIL FROM:<" + sender + b">", b"250"),
                             (b"RCPT TO:<" + rcpt + b">", b"250"),
                             (b"DATA", b"354"),
                             (data + b".", b"250"), (b"QUIT", b"221")):
            f.write(last + b"\r\n")
            f.flush()
            reply(expect)


@NEEDS_ROOT
class SendRequiresLogin(unittest.TestCase):

    def test_send_needs_login(self):
        lm = labtest.Labmail("--send-requires-login",
                             smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        self.assertEqual(b.get("/send").status, 401)
        r = b.post("/send", {"from": "a@b.c", "to": "d@e.f",
                             "body": "a long text typed before the "
                             "session ended", "csrf_token": "A" * 22},
                   {"Cookie": "labmail_csrf=" + "A" * 22})
        self.assertEqual(r.status, 401)
        # What was typed comes back, for a send once logged in.
        self.assertIn("Sending needs a login", r.text)
        self.assertIn('value="d@e.f"', r.text)
        self.assertIn("a long text typed before the session ended</textarea>",
                      r.text)


if __name__ == "__main__":
    unittest.main()
