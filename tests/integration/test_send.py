"""The send form, end to end: browser-like HTTP client -> labmail -> SMTP.

Against a real Postfix (mail lands in a test user's /var/mail spool),
against smtp-sink, and against faultsmtp.py, which misbehaves on purpose.
"""

import email
import email.policy
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import unittest

import labtest

FORM = {
    "from": "darth@starwars.univ",
    "to": "root@mail181.com",
    "cc": "",
    "subject": "TP SMTP",
    "body": "NAME1, NAME2, secret, 181\n",
}


def form(csrf, **fields):
    data = dict(FORM, csrf_token=csrf)
    data.update(fields)
    return data


@unittest.skipUnless(labtest.is_root(), "needs root for Postfix and useradd")
class PostfixDelivery(unittest.TestCase):
    """A mail sent through the form arrives in the user's spool, intact."""

    @classmethod
    def setUpClass(cls):
        cls.postfix = labtest.Postfix()
        cls.user = labtest.TestUser()
        cls.other = labtest.TestUser()
        cls.lm = labtest.Labmail(smtp_port=cls.postfix.port)

    @classmethod
    def tearDownClass(cls):
        cls.lm.cleanup()
        cls.postfix.stop()
        cls.user.remove()
        cls.other.remove()

    def setUp(self):
        self.b = labtest.Browser(self.lm.base)

    def test_mail_arrives_intact(self):
        body = ("Line one\n"
                ".\n"
                ".starts with a dot\n"
                "..two dots\n"
                "From the start of a line\n"
                "Accents : été, ça, 181 ✓\n"
                "\n"
                "last line")
        subject = "Été à Paris — ça marche ✓"
        r = self.b.post("/send", form(
            self.b.csrf(), to="%s@mail181.com" % self.user.name,
            cc="%s@mail181.com" % self.other.name,
            **{"from": "Élodie Dupont <darth@starwars.univ>"},
            subject=subject, body=body))
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("Mail queued", r.text)
        qid = re.search(r'id="queue-id">([0-9A-F]+)<', r.text).group(1)
        spool = self.user.wait_mail()
        self.assertIn(("with ESMTP id %s" % qid).encode(), spool)
        self.assertTrue(spool.startswith(b"From darth@starwars.univ "))
        raw = spool.split(b"\n", 1)[1]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["Subject"], subject)
        self.assertEqual(msg["From"].addresses[0].display_name, "Élodie Dupont")
        self.assertEqual(msg["To"], "%s@mail181.com" % self.user.name)
        self.assertEqual(msg["Cc"], "%s@mail181.com" % self.other.name)
        self.assertEqual(msg["Return-Path"], "<darth@starwars.univ>")
        for h in ("Date", "Message-ID", "MIME-Version", "Received",
                  "Delivered-To", "X-Original-To"):
            self.assertIsNotNone(msg[h], h)
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        # local(8) quotes body "From " lines (mboxo): undo it to compare.
        got = msg.get_content().replace("\n>From ", "\nFrom ")
        self.assertEqual(got.rstrip("\n").split("\n"), body.split("\n"))
        self.other.wait_mail()

    def test_unknown_recipient_is_refused_with_server_reply(self):
        r = self.b.post("/send", form(self.b.csrf(),
                                      to="nosuchuser@mail181.com"))
        self.assertEqual(r.status, 502)
        self.assertIn("550", r.text)
        self.assertIn("User unknown in local recipient table", r.text)
        self.assertIn("does not exist on the server", r.text)
        # The form keeps what was typed, for a retry.
        self.assertIn('value="nosuchuser@mail181.com"', r.text)

    def test_one_refused_recipient_still_sends(self):
        r = self.b.post("/send", form(
            self.b.csrf(), to="%s@mail181.com, ghost@mail181.com" %
            self.user.name))
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("Mail queued, not for every recipient", r.text)
        self.assertIn("Accepted for 1 recipient ", r.text)
        self.assertIn("The server refused the recipients below", r.text)
        self.assertRegex(r.text, r"<li><code>ghost@mail181\.com</code> "
                         r"refused: <code>550 5\.1\.1 ")


class SmtpSinkDelivery(unittest.TestCase):
    """smtp-sink: the dialogue shows every command and reply in order."""

    def test_dialogue_is_shown(self):
        sink = labtest.SmtpSink()
        self.addCleanup(sink.stop)
        lm = labtest.Labmail(smtp_port=sink.port)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        r = b.post("/send", form(b.csrf()))
        self.assertEqual(r.status, 200, r.text)
        lines = re.findall(r'<tr class="(client|server|data|note)">.*?'
                           r'<code>(.*?)</code>', r.text)
        commands = [t for k, t in lines if k == "client"]
        self.assertTrue(commands[0].startswith("EHLO [127.0.0.1]"), commands)
        self.assertRegex(commands[1],
                         r"^MAIL FROM:&lt;darth@starwars.univ&gt;( SIZE=\d+)?$")
        self.assertEqual(commands[2:], [
            "RCPT TO:&lt;root@mail181.com&gt;", "DATA", ".", "QUIT"])
        server = [t for k, t in lines if k == "server"]
        self.assertTrue(server[0].startswith("220 "))
        self.assertTrue(any(s.startswith("354") for s in server))
        self.assertTrue(server[-1].startswith("221"))
        self.assert_times(r.text)
        # smtp-sink gives no queue id: the page says so, without a
        # "Queue id:" line left empty.
        self.assertIn("Accepted for 1 recipient; the server&#39;s reply gives "
                      "no queue id.", r.text)
        self.assertIn('<p class="queue" hidden>', r.text)

    def assert_times(self, page):
        """Each row: the local wall time to the ms, then the time since
        connecting in tenths of ms, never going back, the two moving
        together; the first row's wall time is now."""
        before = time.time()
        rows = re.findall(r'<td class="t">([^<]*)</td>'
                          r'<td class="t">([^<]*)</td>', page)
        self.assertGreater(len(rows), 10)
        elapsed = []
        for wall, since in rows:
            self.assertRegex(wall, r"^\d{2}:\d{2}:\d{2}\.\d{3}$")
            m = re.fullmatch(r"\+(\d+)\.(\d) ms", since)
            self.assertIsNotNone(m, since)
            elapsed.append(int(m.group(1)) * 10 + int(m.group(2)))
        self.assertEqual(elapsed, sorted(elapsed))
        # Both clocks move together, row by row (a wall time computed
        # once and reused would not): wall minus elapsed stays put,
        # within the ms the two are rounded to.
        day = 86400000
        first = None
        for (wall, _), tenths in zip(rows, elapsed):
            h, mi, sec = wall.split(":")
            offset = (int(h) * 3600 + int(mi) * 60) * 1000 + \
                round(float(sec) * 1000) - tenths / 10
            first = offset if first is None else first
            drift = (offset - first) % day     # midnight may fall between
            self.assertLessEqual(min(drift, day - drift), 2, rows)
        # The first row's wall time is "now" in the local zone, within
        # the few seconds the send took.
        h, mi, s = rows[0][0].split(":")
        now = time.localtime(before)
        shown = int(h) * 3600 + int(mi) * 60 + float(s)
        real = now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec
        gap = (real - shown) % 86400
        self.assertLess(min(gap, 86400 - gap), 10)


class FaultyServers(unittest.TestCase):
    """Each way a server can fail gets its status and a clear page."""

    def serve(self, mode, *labmail_args):
        """A fault server in mode, saving what it receives, and a
        labmail sending to it: (labmail, the folder of saved mails)."""
        saved = tempfile.mkdtemp(prefix="labmail-fault-")
        self.addCleanup(shutil.rmtree, saved)
        server = labtest.FaultSMTP(mode, save_dir=saved)
        self.addCleanup(server.stop)
        lm = labtest.Labmail(*labmail_args, smtp_port=server.port)
        self.addCleanup(lm.cleanup)
        return lm, saved

    def send_to(self, mode, *labmail_args, **fields):
        lm, saved = self.serve(mode, *labmail_args)
        b = labtest.Browser(lm.base)
        r = b.post("/send", form(b.csrf(), **fields))
        return r, saved

    def test_a_send_under_way_is_answered_at_shutdown(self):
        """SIGTERM while ten sends wait on a silent server: each still
        gets its page (504 once its timeout passes), a page that would
        block meanwhile gets 503, the guide is served, and labmail
        exits cleanly."""
        server = labtest.FaultSMTP("silent")
        self.addCleanup(server.stop)
        lm = labtest.Labmail("--smtp-timeout", "2",
                             smtp_port=server.port)
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        data = form(b.csrf())
        statuses = []

        def send():
            statuses.append(b.post("/send", data).status)
        threads = [threading.Thread(target=send) for _ in range(10)]
        for t in threads:
            t.start()
        for _ in range(200):
            if labtest.count_connections(server.port) >= 10:
                break
            time.sleep(0.05)
        lm.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertEqual(labtest.Browser(lm.base).get("/send").status, 503)
        self.assertEqual(labtest.Browser(lm.base).get("/guide").status, 200)
        for t in threads:
            t.join(30)
        # Every one answered: a send's page is never dropped.
        self.assertEqual(statuses, [504] * 10)
        self.assertEqual(lm.proc.wait(30), 0)

    def test_greeting_421(self):
        r, _ = self.send_to("greet421")
        self.assertEqual(r.status, 502)
        self.assertIn("421", r.text)
        self.assertIn("not available", r.text)

    def test_all_recipients_refused(self):
        r, saved = self.send_to("rcpt550")
        self.assertEqual(r.status, 502)
        self.assertIn("550 5.1.1", r.text)
        self.assertNotIn("<code>DATA</code>", r.text)
        self.assertEqual(os.listdir(saved), [])
        # The list of refusals says it; the reply is not shown twice.
        self.assertIn("The server refused every recipient", r.text)
        self.assertIn('<pre class="reply"></pre>', r.text)

    def test_outcome_is_logged(self):
        """The log says how each send ended, with the server's last
        word: the access log's 502 alone does not tell a teacher why."""
        lm, _ = self.serve("rcpt550")
        b = labtest.Browser(lm.base)
        self.assertEqual(b.post("/send", form(b.csrf())).status, 502)
        self.assertIn("send from 127.0.0.1 to 127.0.0.1 port %d: refused, "
                      "last reply 550, every recipient refused"
                      % lm.smtp_port, lm.output())
        # Nothing of the form, not even as the server quotes it.
        self.assertNotIn("root@mail181.com", lm.output())
        self.assertNotIn("TP SMTP", lm.output())

    def test_longest_refusals_make_a_bounded_page(self):
        """50 recipients, each refused with 64 lines of 4 KB: the page
        shows the first of it and says what it left out, instead of
        the 100 MB it once made."""
        to = ", ".join("u%d@mail181.com" % i for i in range(50))
        r, saved = self.send_to("rcpt550-long", to=to)
        self.assertEqual(r.status, 502)
        # Checked as booleans: a failure must not print the page.
        self.assertLess(len(r.body), 1 << 20, "page of %d bytes"
                        % len(r.body))
        for shown in ("550-5.1.1 &lt;&lt;&lt;", "[...]",
                      "lines of this reply not shown: the server has "
                      "said over 64 KB"):
            self.assertTrue(shown in r.text, "no %r on the page" % shown)
        self.assertEqual(os.listdir(saved), [])

    def test_refused_after_data(self):
        r, _ = self.send_to("data552")
        self.assertEqual(r.status, 502)
        self.assertIn("552 5.3.4", r.text)
        self.assertIn("larger than the server accepts", r.text)

    def test_connection_closed_mid_dialogue(self):
        """A server that hangs up after talking is not "no dialogue":
        the page says the connection was cut, and that nothing was
        delivered, as the message had not gone."""
        r, _ = self.send_to("close")
        self.assertEqual(r.status, 502)
        self.assertIn("connection closed by the server", r.text)
        self.assertIn("The connection was cut during the dialogue", r.text)
        self.assertNotIn("No dialogue", r.text)
        self.assertIn("never had the whole message", r.text)

    def test_connection_closed_after_the_final_dot(self):
        """Cut after the final ".", the mail may have been delivered:
        the page says so, lest the student send it twice."""
        r, saved = self.send_to("closedot")
        self.assertEqual(r.status, 502)
        self.assertIn("<code>.</code>", r.text)
        self.assertIn("may have been delivered all the same", r.text)
        self.assertEqual(len(os.listdir(saved)), 1)

    def test_quit_unanswered_does_not_hold_the_page(self):
        """The mail is queued once the server says 250 to the final
        dot: a server that then ignores QUIT is waited for a few
        seconds, not the whole --smtp-timeout."""
        r, saved = self.send_to("noquit", "--smtp-timeout", "600")
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("ABC123", r.text)
        self.assertIn("no reply within 5 s", r.text)
        self.assertEqual(len(os.listdir(saved)), 1)

    def test_queue_id_marked_only_where_given(self):
        """An id of "2" is also in every "250": only the one after
        "queued as" is marked."""
        r, _ = self.send_to("shortid")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.text.count("<mark>"), 1)
        self.assertIn("queued as <mark>2</mark>", r.text)

    def test_silent_server_times_out(self):
        r, _ = self.send_to("silent", "--smtp-timeout", "1")
        self.assertEqual(r.status, 504)
        self.assertIn("did not answer in time", r.text)
        self.assertRegex(r.text, r"127\.0\.0\.1 port \d+ did not answer "
                         r"within the time allowed")
        self.assertIn('value="root@mail181.com"', r.text)

    def test_nothing_listening(self):
        """The commonest mistake in the lab: Postfix stopped, or not on
        that address.  The page says what to check."""
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        r = b.post("/send", form(b.csrf()))
        self.assertEqual(r.status, 502)
        self.assertIn("No dialogue with the SMTP server", r.text)
        self.assertIn("Connection refused", r.text)
        self.assertIn("systemctl status postfix", r.text)
        self.assertIn('value="root@mail181.com"', r.text)

    def test_utf8_address_without_smtputf8(self):
        r, saved = self.send_to("noehlo", **{"from": "\u00e9lodie@x.y"})
        self.assertEqual(r.status, 502)
        self.assertIn("needs the SMTPUTF8 extension", r.text)
        self.assertEqual(os.listdir(saved), [])

    def test_not_an_smtp_server(self):
        r, saved = self.send_to("garbage")
        self.assertEqual(r.status, 502)
        self.assertIn("not an SMTP reply", r.text)
        self.assertRegex(r.text, r"an SMTP server\?</p>")

    def test_size_limit_of_server(self):
        r, saved = self.send_to("size100", body="x" * 500)
        self.assertEqual(r.status, 413)
        self.assertIn("size limit (SIZE) smaller than this message", r.text)
        self.assertEqual(os.listdir(saved), [])

    def test_helo_when_ehlo_refused(self):
        r, saved = self.send_to("noehlo")
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("<code>HELO [127.0.0.1]</code>", r.text)
        # The dialogue's times say their zone: the reader's may differ.
        zone = time.strftime("%Z", time.localtime())
        self.assertIn("<th>Time (%s)</th>" % zone, r.text)

    def test_first_value_of_a_field_wins(self):
        # Repeated fields are not glued together (libmicrohttpd's post
        # processor gave to "a@b.cx@y.z" here): the first one is sent.
        lm, saved = self.serve("ok")
        b = labtest.Browser(lm.base)
        data = ("from=darth%40starwars.univ&to=root%40mail181.com"
                "&to=second%40mail181.com&subject=one&subject=two&body=x"
                "&csrf_token=" + b.csrf()).encode()
        r = b.post("/send", data, {
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("<code>RCPT TO:&lt;root@mail181.com&gt;</code>",
                      r.text)
        self.assertNotIn("second@", r.text)
        with open(os.path.join(saved, os.listdir(saved)[0]), "rb") as f:
            wire = f.read()
        self.assertIn(b"\r\nSubject: one\r\n", wire)

    def test_wire_format(self):
        body = "a\n.\n.b\nlong " + "é" * 700 + "\nend"
        r, saved = self.send_to("ok", body=body)
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("ABC123", r.text)
        with open(os.path.join(saved, os.listdir(saved)[0]), "rb") as f:
            wire = f.read()
        self.assertNotRegex(wire, rb"[^\r]\n")          # CRLF only
        self.assertIn(b"\r\n..\r\n", wire)               # "." stuffed
        self.assertIn(b"\r\n..b\r\n", wire)
        self.assertTrue(all(len(l) <= 998 for l in wire.split(b"\r\n")))
        self.assertTrue(wire.endswith(b"\r\n.\r\n"))


class BadInput(unittest.TestCase):
    """Rejected forms come back with what was typed; nothing is sent."""

    @classmethod
    def setUpClass(cls):
        cls.saved = tempfile.mkdtemp(prefix="labmail-bad-")
        cls.server = labtest.FaultSMTP("ok", save_dir=cls.saved)
        cls.lm = labtest.Labmail("--max-body", "2000",
                                 smtp_port=cls.server.port)

    @classmethod
    def tearDownClass(cls):
        cls.lm.cleanup()
        cls.server.stop()
        shutil.rmtree(cls.saved)

    def setUp(self):
        self.b = labtest.Browser(self.lm.base)
        self.token = self.b.csrf()

    def tearDown(self):
        self.assertEqual(os.listdir(self.saved), [], "something was sent")

    def assert_refused(self, field, status=400, **fields):
        r = self.b.post("/send", form(self.token, **fields))
        self.assertEqual(r.status, status, r.text)
        err = re.search(r'id="%s-error">([^<]*)<' % field, r.text).group(1)
        self.assertNotEqual(err, "", "no error next to %s" % field)
        return r

    def assert_refused_raw(self, data):
        """POST urlencoded data as it is (a browser would not send it),
        the CSRF token added: 400."""
        r = self.b.post("/send", (data + "&csrf_token=" +
                                  self.token).encode(), {
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400, r.text)
        return r

    def test_header_injection_in_subject(self):
        r = self.assert_refused("subject", subject="hi\r\nBcc: x@evil.com")
        self.assertIn("hi\r\nBcc: x@evil.com", r.text.replace("&#13;", "\r"))

    def test_smtp_injection_in_to(self):
        self.assert_refused("to", to="a@b.c>\r\nRCPT TO:<x@evil.com")

    def test_newline_in_from(self):
        self.assert_refused("from", **{"from": "a@b.c\nDATA"})

    def test_not_an_address(self):
        r = self.assert_refused("to", to="not an address")
        self.assertIn('value="not an address"', r.text)

    def test_no_recipient(self):
        self.assert_refused("to", to="")

    def test_cc_list_with_garbage(self):
        self.assert_refused("cc", cc="a@b.c, nonsense")

    def test_list_error_names_the_bad_address(self):
        """In a list, the error says which address is wrong, as typed
        (and escaped: it is user input)."""
        r = self.assert_refused(
            "to", to="root@mail181.com,  bob<b> , luke@rebels.univ")
        self.assertIn('id="to-error">To is not a list of e-mail '
                      'addresses: &quot;bob&lt;b&gt;&quot;.<', r.text)

    def test_nul_byte(self):
        self.assert_refused("subject", subject="a\0b")

    def test_nul_in_a_field_name(self):
        # The same urlencoded parser in every mode: a %00 does not cut
        # "subject%00x" down to "subject" (which, first value winning,
        # would then be "evil"); the form is refused, nothing sent.
        r = self.assert_refused_raw(
            "subject%00x=evil&subject=good&from=darth%40starwars.univ"
            "&to=root%40mail181.com&body=x")
        self.assertNotIn("evil", r.text)

    def test_fullwidth_punctuation_in_a_domain(self):
        # The IDNA mapping turns "\uff1e", "\uff1d" and an ideographic
        # space into ">", "=" and " ": they must not reach MAIL FROM or
        # RCPT TO as parameters of their own.
        self.assert_refused("from", **{
            "from": "a@b.c\uff1e\u3000RET\uff1dFULL\u3000ENVID\uff1dx"})
        self.assert_refused("to", to="x@y.com\uff1e\u3000NOTIFY\uff1dNEVER")
        self.assert_refused("cc", cc="x@y\uff20evil.example")

    def test_address_over_smtp_limits(self):
        """An address too long for SMTP is refused for that reason, not
        as "not an address"."""
        local = "a" * 65 + "@b.com"
        r = self.assert_refused("to", to="root@mail181.com, " + local)
        self.assertIn('id="to-error">To has an address longer than SMTP '
                      'allows (at most 64 bytes before the @, 254 in all): '
                      '&quot;%s&quot;.<' % local, r.text)
        path = "a@" + "b" * 60 + ".c" * 97          # 256 octets
        r = self.assert_refused("from", **{"from": path})
        self.assertIn('id="from-error">From has an address longer than '
                      'SMTP allows', r.text)

    def test_encoded_word_typed_by_hand(self):
        # Decoded by the reader, it would give a NUL, then CR LF and Bcc.
        subject = "=?iso-8859-1?q?a=00=0D=0ABcc:_victim@x.com?="
        r = self.assert_refused("subject", subject=subject)
        self.assertIn('value="%s"' % subject, r.text)
        self.assert_refused("from", **{
            "from": "=?iso-8859-1?q?Bob=00=0D=0AX?= <a@b.c>"})
        # A "=?" alone, closed by the word GMime adds for the "é".
        self.assert_refused(
            "subject", subject="=?iso-8859-1?q?a=0D=0ABcc:_x@evil.com \u00e9")

    def test_equals_in_a_name_that_gets_encoded(self):
        # GMime would keep these "=" as they are inside its own word.
        self.assert_refused("from", **{
            "from": "\u00c9lodie=0D=0ABcc=3A_x=40evil.com <d@starwars.univ>"})

    def test_body_starting_with_blank_lines_comes_back_whole(self):
        # HTML drops one line end right after <textarea>: the page
        # gives one of its own, so that the user's are all kept.
        r = self.assert_refused("to", to="", body="\n\nthird line")
        self.assertIn('aria-describedby="body-error">\n\n\nthird line'
                      '</textarea>', r.text)

    def test_broken_escape_is_named(self):
        r = self.assert_refused_raw("from=darth%40starwars.univ"
                                    "&to=root%40mail181.com&subject=%ZZ"
                                    "&body=x")
        self.assertIn("broken %-escape", re.search(
            r'id="subject-error">([^<]*)<', r.text).group(1))

    def test_unreadable_field_outside_the_form_is_named(self):
        r = self.assert_refused_raw("from=darth%40starwars.univ"
                                    "&to=root%40mail181.com&subject=s"
                                    "&body=x&junk=%00")
        self.assertRegex(r.text, r'class="notice"[^>]*>[^<]*'
                         r'field &quot;junk&quot; holds a NUL byte')

    def test_invalid_utf8(self):
        r = self.assert_refused_raw("from=darth%40starwars.univ"
                                    "&to=root%40mail181.com"
                                    "&subject=%FF%FE&body=x")
        self.assertNotEqual(re.search(r'id="subject-error">([^<]*)<',
                                      r.text).group(1), "")

    def test_body_over_limit(self):
        r = self.assert_refused("body", status=413, body="x" * 3000)
        self.assertIn('id="body-error">The message is too large (at most '
                      '2000 bytes).<', r.text)

    def test_errors_are_sentences(self):
        """Each error names its field: read alone (a screen reader, a
        glance), it still says what is wrong."""
        r = self.assert_refused("from", **{"from": ""}, to="")
        self.assertIn('id="from-error">From is required.<', r.text)
        self.assertIn('id="to-error">To needs at least one recipient.<',
                      r.text)

    def test_request_over_http_limit(self):
        r = self.b.post("/send", form(self.token, body="x" * (3 << 20)))
        self.assertEqual(r.status, 413)

    def test_missing_csrf(self):
        data = dict(FORM)
        r = self.b.post("/send", data)
        self.assertEqual(r.status, 403)
        self.assertIn('value="root@mail181.com"', r.text)

    def test_wrong_csrf(self):
        r = self.b.post("/send", form("A" * 22))
        self.assertEqual(r.status, 403)

    def test_script_is_inert(self):
        r = self.assert_refused(
            "from", **{"from": '"><script>alert(1)</script>'},
            subject="<img src=x onerror=alert(1)>")
        self.assertNotIn("<script>alert(1)", r.text)
        self.assertNotIn("<img src=x", r.text)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", r.text)


class Concurrency(unittest.TestCase):
    """The event loop never waits on SMTP."""

    def test_guide_answers_while_20_sends_hang(self):
        server = labtest.FaultSMTP("silent")
        self.addCleanup(server.stop)
        lm = labtest.Labmail("--smtp-timeout", "30", smtp_port=server.port)
        self.addCleanup(lm.cleanup)
        labtest.check_sends_do_not_block(self, lm.base, server, FORM, 20)

    def test_more_sends_than_page_workers_neither_queue_nor_block(self):
        """70 sends hang, more than the 64 workers of the pages that
        wait on the helper: each has its SMTP connection open at once,
        and the send form and the login page still answer."""
        server = labtest.FaultSMTP("silent")
        self.addCleanup(server.stop)
        lm = labtest.Labmail("--smtp-timeout", "30", smtp_port=server.port)
        self.addCleanup(lm.cleanup)
        labtest.check_sends_do_not_block(self, lm.base, server, FORM, 70,
                                         ("/guide", "/send", "/login"))


if __name__ == "__main__":
    unittest.main()
