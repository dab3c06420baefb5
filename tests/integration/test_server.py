"""labmail as a server: start-up, configuration, pages, static files."""

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import labtest


def run_labmail(*args):
    return subprocess.run([labtest.LABMAIL, *args], capture_output=True,
                          text=True, timeout=30)


class StartUp(unittest.TestCase):
    """Bad configuration stops start-up with one clear line, status 2."""

    def assert_usage_error(self, args, words):
        p = run_labmail(*args)
        self.assertEqual(p.returncode, 2, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for w in words:
            self.assertIn(w, lines[0])

    def test_bad_port(self):
        self.assert_usage_error(["--listen", "127.0.0.1:70000"],
                                ["listen", "70000"])

    def test_bad_group(self):
        self.assert_usage_error(["--group", "abc"], ["group", "abc"])

    def test_group_without_valid_address(self):
        self.assert_usage_error(["--group", "42"], ["smtp-addr", "42"])

    def test_missing_config_file(self):
        self.assert_usage_error(["--config", "/nonexistent/labmail.conf"],
                                ["/nonexistent/labmail.conf"])

    def test_unknown_config_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[labmail]\ngrup = 142\n")
            f.flush()
            self.assert_usage_error(["--config", f.name], ["grup"])

    def test_help_lists_every_option_with_default(self):
        p = run_labmail("--help")
        self.assertEqual(p.returncode, 0)
        for opt in ("--listen", "--smtp", "--group", "--config", "--data-dir",
                    "--smtp-timeout", "--version"):
            self.assertIn(opt, p.stdout)
        self.assertIn("127.0.0.1:8080", p.stdout)

    def test_help_speaks_the_terminals_charset(self):
        """In a UTF-8 locale the usage line has GLib's ellipsis, not
        the "?" that stands for it in ASCII."""
        env = dict(os.environ, LC_ALL="C.UTF-8")
        p = subprocess.run([labtest.LABMAIL, "--help"], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertIn("labmail [OPTION\u2026]", p.stdout)
        env["LC_ALL"] = "C"
        p = subprocess.run([labtest.LABMAIL, "--help"], capture_output=True,
                           timeout=30, env=env)
        self.assertIn(b"labmail [OPTION?]", p.stdout)

    def test_version(self):
        p = run_labmail("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^labmail \d+\.\d+")

    def test_sigterm_shuts_down_cleanly(self):
        lm = labtest.Labmail(smtp_port=labtest.free_port())
        self.assertEqual(lm.stop(), 0)
        self.assertIn("shutting down", lm.output())
        lm.cleanup()

    def test_sigterm_while_starting_shuts_down_cleanly(self):
        """A SIGTERM before labmail serves (systemctl stop just after
        start) waits for it to be up, then stops it cleanly.  The CA
        file, read at start-up, is a FIFO here: labmail is surely still
        starting while it waits to read it."""
        tmp = tempfile.mkdtemp(prefix="labmail-start-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ca = os.path.join(tmp, "ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", os.path.join(tmp, "ca.key"), "-out", ca,
                        "-days", "1", "-subj", "/CN=labmail test CA"],
                       check=True, capture_output=True)
        with open(ca) as f:
            pem = f.read()
        fifo = os.path.join(tmp, "ca-fifo.pem")
        os.mkfifo(fifo)
        p = subprocess.Popen(
            [labtest.LABMAIL, "--listen", "127.0.0.1:%d" % labtest.free_port(),
             "--smtp", "127.0.0.1:%d" % labtest.free_port(),
             "--state-dir", tmp, "--smtp-ca", fifo],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(labtest.stop_process, p)
        # open() returns once labmail has opened the FIFO to read it.
        with open(fifo, "w") as f:
            p.send_signal(signal.SIGTERM)
            f.write(pem)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("shutting down", err)


class Guide(unittest.TestCase):

    def page(self, *args, path="/guide", headers=None):
        lm = labtest.Labmail(*args, smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        return labtest.Browser(lm.base).get(path, headers)

    def test_group_181_values(self):
        r = self.page()
        self.assertEqual(r.status, 200)
        for v in ("mail181.com", "smtp181.mail181.com", "192.168.0.81",
                  "172.20.181.1", "machine181.mail181.com"):
            self.assertIn(v, r.text)
        self.assertNotIn("{{", r.text)

    def test_group_142_from_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[labmail]\ngroup = 142\n")
            f.flush()
            r = self.page("--config", f.name)
        for v in ("mail142.com", "192.168.0.42", "172.20.142.1"):
            self.assertIn(v, r.text)
        self.assertNotIn("mail181.com", r.text)

    def test_command_line_wins_over_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[labmail]\ngroup = 142\n")
            f.flush()
            r = self.page("--config", f.name, "--group", "150")
        self.assertIn("mail150.com", r.text)

    def test_language(self):
        fr = self.page(headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        en = self.page(headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
        self.assertEqual(fr.headers["Content-Language"], "fr")
        self.assertEqual(en.headers["Content-Language"], "en")
        self.assertIn("Étape 4", fr.text)
        self.assertIn("Step 4", en.text)
        q = self.page(path="/guide?lang=en",
                      headers={"Accept-Language": "fr"})
        self.assertEqual(q.headers["Content-Language"], "en")
        # The switch marks the language shown, and only it.
        for page, shown in ((fr, "fr"), (en, "en"), (q, "en")):
            marked = re.findall(r'<a href="\?lang=(\w+)"[^>]*'
                                r'aria-current="page"', page.text)
            self.assertEqual(marked, [shown])

    def test_toc_links_reach_headings(self):
        r = self.page(path="/guide?lang=en")
        toc = re.search(r'<nav class="toc".*?</nav>', r.text, re.S).group(0)
        links = re.findall(r'href="#([^"]+)"', toc)
        self.assertGreater(len(links), 8)
        for anchor in links:
            self.assertIn('id="%s"' % anchor, r.text)

    def test_ehlo_is_set_right(self):
        r = self.page(path="/guide?lang=en")
        self.assertIn("ehlo [172.20.181.1]", r.text)

    def test_diagram(self):
        r = self.page("--group", "142", path="/guide/network.svg")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "image/svg+xml")
        self.assertIn("172.20.142.1", r.text)
        self.assertNotIn("<script", r.text)


class Http(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.lm = labtest.Labmail(smtp_port=labtest.free_port())
        cls.b = labtest.Browser(cls.lm.base)

    @classmethod
    def tearDownClass(cls):
        cls.lm.cleanup()

    def test_security_headers_everywhere(self):
        for path in ("/", "/guide", "/send", "/static/style.css", "/nope"):
            h = self.b.get(path).headers
            self.assertIn("default-src 'self'", h["Content-Security-Policy"])
            self.assertIn("frame-ancestors 'none'",
                          h["Content-Security-Policy"])
            self.assertEqual(h["X-Content-Type-Options"], "nosniff")
            self.assertIsNotNone(h["Referrer-Policy"])

    def test_home_links(self):
        r = self.b.get("/")
        self.assertEqual(r.status, 200)
        self.assertIn("<title>The SMTP lab of group 181 · labmail</title>",
                      r.text)
        # The layout's links, then the page's cards: each page twice.
        for link in ('href="/guide"', 'href="/send"', 'href="/inbox"'):
            self.assertEqual(r.text.count(link), 2, link)

    def test_navigation_marks_the_current_section(self):
        for path, section in (("/guide", "guide"), ("/send", "send"),
                              ("/inbox", "inbox"), ("/inbox/3", "inbox"),
                              ("/login", "login")):
            text = self.b.get(path).text
            marked = re.findall(r'<a href="/(\w+)" aria-current="page">',
                                text)
            self.assertEqual(marked, [section], path)
        self.assertNotIn("aria-current", self.b.get("/").text)

    def test_error_page(self):
        """A 404 is a page of the site, with its links, that says what
        happened; the path asked is not written back into it."""
        r = self.b.get("/nope%3Cscript%3Ealert(1)%3C/script%3E")
        self.assertEqual(r.status, 404)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertIn("<h1>404 Not Found</h1>", r.text)
        self.assertIn("There is no page at this address.", r.text)
        self.assertIn('<a href="/guide">Guide</a>', r.text)
        self.assertNotIn("alert(1)", r.text)
        self.assertNotIn("nope", r.text)
        self.assertIn("default-src 'self'",
                      r.headers["Content-Security-Policy"])

    def test_unknown_path_and_method(self):
        self.assertEqual(self.b.get("/nope").status, 404)
        r = self.b.request("DELETE", "/guide")
        self.assertEqual(r.status, 405)

    def test_static_type_and_validators(self):
        r = self.b.get("/static/style.css")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/css"))
        etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
        nm = self.b.get("/static/style.css", {"If-None-Match": etag})
        self.assertEqual(nm.status, 304)
        # RFC 9110 8.6: no Content-Length, or the 200's (never 0).
        self.assertIn(nm.headers.get("Content-Length"),
                      (None, str(len(r.body))))
        self.assertEqual(self.b.get("/static/style.css",
                                    {"If-Modified-Since": lm}).status, 304)
        self.assertEqual(self.b.get("/static/style.css",
                                    {"If-None-Match": '"other"'}).status, 200)
        # A list, compared weakly; a tag inside junk is no match.
        for inm, status in (('"other", W/%s' % etag, 304),
                            ('"a",%s ,"b"' % etag, 304), ("*", 304),
                            ("junk%sjunk" % etag, 200),
                            ('"x%s"' % etag.strip('"'), 200)):
            self.assertEqual(self.b.get("/static/style.css",
                                        {"If-None-Match": inm}).status,
                             status, inm)

    def test_static_cannot_escape(self):
        for path in ("/static/../src/main.c", "/static/%2e%2e/Makefile",
                     "/static/..%2fMakefile", "/static/%2e%2e%2fMakefile",
                     "/static/style.css%00.txt", "/static//etc/passwd",
                     "/static/", "/static/.hidden"):
            self.assertEqual(self.raw_status(path), 404, path)

    def test_static_symlink_not_served(self):
        data = tempfile.mkdtemp(prefix="labmail-data-")
        self.addCleanup(shutil.rmtree, data)
        for d in ("web", "static"):
            shutil.copytree(os.path.join(labtest.TOP, d),
                            os.path.join(data, d))
        os.symlink("/etc/hostname",
                   os.path.join(data, "static", "link.txt"))
        with open(os.path.join(data, "static", "real.txt"), "w") as f:
            f.write("served\n")
        lm = labtest.Labmail("--data-dir", data,
                             smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        b = labtest.Browser(lm.base)
        self.assertEqual(b.get("/static/real.txt").text, "served\n")
        self.assertEqual(b.get("/static/link.txt").status, 404)

    def raw_status(self, path):
        """Send the path byte for byte (no client-side normalisation)."""
        with socket.create_connection((labtest.LOOPBACK, self.lm.port)) as s:
            s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return int(data.split(b" ", 2)[1])

    def test_header_size_limit(self):
        # An 8 KB header line passes (nginx's and Apache's default
        # limit), a Cookie one included; more gets 431 and runs no page.
        # Between the two, every request is answered: none may run its
        # page and then lose its answer (FRONT_MHD_HEADER_MAX).
        for name in ("Cookie", "X-Filler"):
            line = {name: "pref=" + "a" * 8100}
            self.assertEqual(self.b.get("/guide", line).status, 200, name)
            for size in range(8000, 30001, 100):
                if name == "Cookie" and 15500 < size < 16500:
                    continue    # libmicrohttpd's own gap, before any page
                line = {name: "a" * size}
                self.assertIn(self.b.get("/guide", line).status,
                              (200, 431), "%s of %d bytes" % (name, size))
        self.assertEqual(self.b.get("/guide", {"X-Filler": "b" * 17000})
                         .status, 431)
        self.assertEqual(self.b.get("/guide").status, 200)
        token = self.b.csrf()
        r = self.b.post("/send", {"to": "root@mail181.com", "body": "x",
                                  "csrf_token": token},
                        {"X-Filler": "c" * 17000})
        self.assertEqual(r.status, 431)
        out = self.lm.output()
        self.assertIn('"POST /send HTTP/1.1" 431', out)
        self.assertNotIn("failed to create response header", out)

    def raw(self, head, body=b""):
        """Send bytes as they are; what came back until the server
        closed, and how many body bytes it took before that."""
        sent = 0
        data = b""
        with socket.create_connection((labtest.LOOPBACK, self.lm.port),
                                      timeout=30) as s:
            try:
                s.sendall(head)
                for chunk in body:
                    s.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        return data, sent

    def test_long_target_counts_toward_the_header_limit(self):
        # The request line takes the connection's memory too: with a
        # 16 KB query and 15 KB of headers, no page may run, as its
        # answer could not be sent (the log said 200, nothing came).
        target = "/guide?a=" + "q" * 16200
        self.raw(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"X-A: " + b"y" * 15700 + b"\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)
        self.assertRegex(self.lm.output(), r'"GET /guide\?a=q+ HTTP/1\.1" 431 ')

    def test_body_over_limit_is_answered_at_once_when_announced(self):
        # No "100 Continue": the client is not invited to send 3 MB;
        # and 100 GB announced is refused before it comes.
        # Header fields over their limit too: 431 at once.
        for filler, status in ((b"", b"413"),
                               (b"X-Filler: " + b"f" * 17000 + b"\r\n",
                                b"431")):
            for head in (b"Content-Length: 3145728\r\n"
                         b"Expect: 100-continue\r\n",
                         b"Content-Length: 100000000000\r\n"):
                data, _ = self.raw(b"POST /send HTTP/1.1\r\nHost: x\r\n" +
                                   filler + head + b"\r\n")
                self.assertTrue(data.startswith(b"HTTP/1.1 " + status),
                                data[:80])

    def test_chunked_body_over_limit_is_cut_off(self):
        # The connection closes once 16 MB were dropped, instead of
        # reading whatever the client keeps sending (the timeout is an
        # idle one).
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        drop_max = 16 * 1024 * 1024                   # HTTP_BODY_DROP_MAX
        _, sent = self.raw(b"POST /send HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n",
                           (chunk for _ in range(4 * drop_max // 0x10000)))
        self.assertLess(sent, 2 * drop_max)

    def test_query_read_as_in_every_mode(self):
        # Parsed by labmail's own parser, as under FastCGI and CGI:
        # past 256 fields the request cannot be read (400).
        query = "&".join("a%d=1" % i for i in range(300))
        self.assertEqual(self.b.get("/guide?" + query).status, 400)
        self.assertEqual(self.b.get("/guide?lang=fr&x=%zz").status, 200)
        # A bad query field is no bad form field: this send goes on, to
        # fail at the SMTP server, which is not there (502), not 400.
        token = self.b.csrf()
        for query in ("subject=%zz", "x=%00"):
            r = self.b.post("/send?" + query, {
                "from": "a@b.c", "to": "root@mail181.com", "subject": "s",
                "body": "x", "csrf_token": token})
            self.assertEqual(r.status, 502, query)

    def test_access_log_has_no_form_content(self):
        token = self.b.csrf()
        self.b.post("/send", {"from": "secret-sender@x.y", "to": "",
                              "body": "very-secret-body",
                              "csrf_token": token})
        time.sleep(0.2)
        out = self.lm.output()
        self.assertIn('"POST /send HTTP/1.1"', out)
        self.assertNotIn("very-secret-body", out)
        self.assertNotIn("secret-sender", out)

    def test_csrf_cookie_flags(self):
        r = labtest.Browser(self.lm.base).get("/send")
        cookie = r.headers["Set-Cookie"]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)


async def fetch_guides(port, rounds, timeout):
    """GET /guide rounds times on one kept connection: TRUE when every
    answer came whole, each within timeout seconds."""
    reader, writer = await asyncio.open_connection(labtest.LOOPBACK, port)
    for _ in range(rounds):
        writer.write(b"GET /guide HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                      timeout)
        if not head.startswith(b"HTTP/1.1 200 "):
            return False
        length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        await asyncio.wait_for(reader.readexactly(int(length.group(1))),
                               timeout)
    writer.close()
    return True


async def burst(port, n, rounds, timeout):
    """n connections opened at once, each asking for the guide rounds
    times: how many got every answer, each within timeout seconds (a
    busy machine slows them all a little; a stalled connection waits
    for libmicrohttpd's 60 s timeout)."""
    done = await asyncio.gather(
        *(fetch_guides(port, rounds, timeout) for _ in range(n)),
        return_exceptions=True)
    return sum(1 for d in done if d is True)


class OneProcessor(unittest.TestCase):
    """Lab machines often have one processor.  libmicrohttpd, given a
    thread pool of one, runs a single thread instead, which left 256
    busy connections unread until its 60 s timeout."""

    def test_burst_of_connections(self):
        if subprocess.run(["unshare", "--mount", "--propagation", "private",
                           "true"], stderr=subprocess.DEVNULL).returncode:
            self.skipTest("no mount namespace can be made here")
        tmp = tempfile.mkdtemp(prefix="labmail-cpu-")
        self.addCleanup(shutil.rmtree, tmp, True)
        online = os.path.join(tmp, "online")
        with open(online, "w") as f:
            f.write("0\n")             # what sysconf() reads: one CPU
        lm = labtest.Labmail(wrapper=(
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /sys/devices/system/cpu/online && exec "$@"',
            online), smtp_port=labtest.free_port())
        self.addCleanup(lm.cleanup)
        # The stall came in 3 bursts of 4; the timeout of each answer,
        # a third of libmicrohttpd's, judges no speed.
        for _ in range(5):
            self.assertEqual(asyncio.run(burst(lm.port, 256, 100, 20)), 256)


if __name__ == "__main__":
    unittest.main()
