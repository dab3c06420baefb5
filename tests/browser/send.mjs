// send.mjs - labmail in real Chromium: the guide's table of contents, the
// send form through to a queued mail, and the form's XSS safety.
//
// Usage: node send.mjs BASE_URL RECIPIENT SCREENSHOT_DIR
//
// Drives Debian's /usr/bin/chromium through playwright-core (no browser is
// ever downloaded).  BASE_URL is a labmail on loopback whose --smtp is a
// test Postfix on loopback; nothing here goes anywhere else (Chromium's own
// background traffic is switched off by its flags).
//
// Prints "ok: <step>" for each check that passes, exits 1 with
// "FAIL: <step>: <why>" on the first that does not.  The last line on
// success is "sent: <JSON>" with the subject, body and queue id of the
// mail, so that the caller can find it in the recipient's spool.

import {
  TIMEOUT_MS, Failure, Watcher, baseAndOrigin, check, commandLine, ok, runInChromium, shooter,
} from './lib.mjs';

const SEND_TIMEOUT_MS = 60000;		// the POST that runs the SMTP dialogue

const FROM = 'darth@starwars.univ';
const SUBJECT = 'Test navigateur — été ✓';
// A lone "." ends DATA unless the client dot-stuffs it, and ".dot" loses
// its dot on the server side unless stuffed: both must arrive as typed.
const BODY_LINES = [
  'Bonjour,',
  '',
  'Ce message vient du test navigateur de labmail.',
  '.',
  '.dot at the start of a line',
  'Ligne accentuée : été, œuvre, ✓',
  '..two dots',
  'Fin.',
];
const BODY = BODY_LINES.join('\n');

const XSS_SUBJECT = '<script>window.__pwned=1</script>';
const XSS_FROM = '"><img src=x onerror="window.__pwned=2">@x';
// Leading blank lines too: HTML drops a line end right after <textarea>,
// so the page must give one of its own for the typed ones to come back.
const XSS_BODY = '\n\n</textarea><img src=x onerror="window.__pwned=3">';

let step = 'start';

const [base0, recipient, shotDir] = commandLine(
  'node send.mjs BASE_URL RECIPIENT SCREENSHOT_DIR', 3);
const [BASE, ORIGIN] = baseAndOrigin(base0);

// Everything the pages report that a person would count as broken, the
// console errors that a given step expects (a 400 page logs its status)
// and the dialogs that fired.
const watcher = new Watcher();
const { problems, dialogs } = watcher;

function watch(page) {
  watcher.watch(page);
  page.on('request', (req) => {
    if (new URL(req.url()).origin !== ORIGIN && !req.url().startsWith('data:'))
      problems.push(`request outside labmail: ${req.url()}`);
  });
}

const shot = shooter(shotDir);

async function guide(page) {
  step = 'guide';
  const resp = await page.goto(`${BASE}/guide?lang=en`);
  check(resp && resp.status() === 200,
    `GET /guide?lang=en answered ${resp && resp.status()}`);
  ok('GET /guide?lang=en is 200');

  const toc = page.locator('nav.toc');
  check(await toc.count() === 1, `expected one nav.toc, found ${await toc.count()}`);
  check(await toc.isVisible(), 'nav.toc is not visible');
  ok('the guide has a visible nav.toc');

  step = 'guide: table of contents';
  const link = toc.locator('a', { hasText: 'Step 4' });
  check(await link.count() === 1,
    `expected one TOC link with "Step 4", found ${await link.count()}`);
  const href = await link.getAttribute('href');
  check(href && /^#[^#\s]+$/.test(href), `the Step 4 link's href is ${JSON.stringify(href)}`);
  const id = decodeURIComponent(href.slice(1));
  const target = page.locator(`[id="${id.replace(/["\\]/g, '\\$&')}"]`);
  check(await target.count() === 1, `expected one element with id="${id}", found ${await target.count()}`);
  const tag = await target.evaluate((e) => e.tagName);
  check(/^H[1-6]$/.test(tag), `#${id} is a <${tag}>, not a heading`);
  check(/Step 4/.test(await target.innerText()), `#${id} does not say "Step 4"`);
  ok(`the TOC links "Step 4" to heading <${tag.toLowerCase()} id="${id}">`);

  await shot(page, 'guide.png');

  const before = await page.evaluate(() => window.scrollY);
  await link.click();
  await page.waitForFunction((h) => location.hash === h, href, { timeout: TIMEOUT_MS })
    .catch(() => {});
  const hash = await page.evaluate(() => location.hash);
  check(hash === href, `after the click the URL hash is ${JSON.stringify(hash)}, expected ${href}`);
  check(page.url() === `${BASE}/guide?lang=en${href}`,
    `after the click the URL is ${page.url()}`);
  ok(`clicking the link changed the URL hash to ${hash}`);

  // In the viewport, and not hidden under anything (a sticky header, say):
  // poll, in case the page scrolls smoothly.
  const where = await page.waitForFunction((i) => {
    const e = document.getElementById(i);
    if (!e)
      return null;
    const r = e.getBoundingClientRect();
    const x = r.left + Math.min(r.width / 2, 20);
    const y = Math.max(r.top, 0) + r.height / 2;
    // A scroll to the anchor may land a fraction of a pixel off.
    if (r.top < -1 || r.bottom > window.innerHeight + 1 || r.height === 0)
      return null;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === e || e.contains(hit)))
      return null;
    return { top: r.top, bottom: r.bottom, scrollY: window.scrollY };
  }, id, { timeout: TIMEOUT_MS }).then((h) => h.jsonValue()).catch(() => null);
  if (!where) {
    const r = await target.evaluate((e) => {
      const b = e.getBoundingClientRect();
      return { top: b.top, bottom: b.bottom, innerHeight: window.innerHeight };
    });
    throw new Failure(`#${id} is not visible in the viewport after the click: ${JSON.stringify(r)}`);
  }
  check(where.scrollY > before, `the page did not scroll (scrollY ${before} -> ${where.scrollY})`);
  ok(`#${id} is in the viewport (top ${Math.round(where.top)} px, scrolled to ${Math.round(where.scrollY)})`);
  // What to type is marked apart from what the machine prints.
  const marks = await page.evaluate(() => {
    const mark = (sel) => {
      const c = document.querySelector(sel);
      return c ? getComputedStyle(c, '::before').content : null;
    };
    return [mark('article.guide pre code.language-sh'),
      mark('article.guide pre code:not([class])')];
  });
  check(marks[0] === '"to type"' && marks[1] === 'none',
    `a command block is marked ${marks[0]}, an output block ${marks[1]}`);
  ok('command blocks are marked "to type", output blocks are not');
  await shot(page, 'guide-step4.png', false);
  watcher.noProblems('guide');
  ok('guide: no console errors, CSP violations or failed loads');
}

async function submit(page) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ timeout: SEND_TIMEOUT_MS, waitUntil: 'load' }),
    page.getByRole('button', { name: 'Send' }).click(),
  ]);
  check(resp !== null, 'submitting the form did not load a page');
  check(resp.request().method() === 'POST' && new URL(resp.url()).pathname === '/send',
    `submitting the form loaded ${resp.request().method()} ${resp.url()}`);
  return resp;
}

async function sendForm(page) {
  step = 'send form';
  const resp = await page.goto(`${BASE}/send`);
  check(resp && resp.status() === 200, `GET /send answered ${resp && resp.status()}`);
  const token = await page.locator('form input[name="csrf_token"]').getAttribute('value');
  check(token && token.length >= 16, `the form's csrf_token is ${JSON.stringify(token)}`);
  ok('GET /send is 200 with a CSRF token');

  await page.getByLabel('From').fill(FROM);
  await page.getByLabel('To').fill(recipient);
  await page.getByLabel('Subject').fill(SUBJECT);
  await page.getByLabel('Message').fill(BODY);
  check(await page.getByLabel('Message').inputValue() === BODY, 'the body did not type in as given');
  ok('filled in from, to, subject and a body with "." and ".dot" lines');

  step = 'send: submit';
  const started = Date.now();
  const res = await submit(page);
  const status = res.status();
  const verdict = (await page.locator('#verdict').innerText().catch(() => '')).trim();
  if (status !== 200 || verdict !== 'Mail queued') {
    await shot(page, 'send-result.png').catch(() => {});
    const explain = await page.locator('.result').innerText().catch(() => '(no .result)');
    throw new Failure(`POST /send answered ${status}, headline ${JSON.stringify(verdict)}:\n${explain}`);
  }
  ok(`POST /send is 200 "Mail queued" after ${Date.now() - started} ms`);

  step = 'send: result page';
  check(await page.getByText('Mail queued', { exact: true }).isVisible(),
    '"Mail queued" is not visible');
  const qid = (await page.locator('#queue-id').innerText()).trim();
  check(/^[0-9A-F]+$/i.test(qid), `#queue-id says ${JSON.stringify(qid)}`);
  ok(`#queue-id is ${qid}`);

  const serverRows = page.locator('table.transcript tr.server', { hasText: qid });
  check(await serverRows.count() >= 1, `no server line of the transcript has the queue id ${qid}`);
  const serverLine = (await serverRows.first().locator('code').innerText()).trim();
  check(/^250\b/.test(serverLine), `the server line with the queue id is ${JSON.stringify(serverLine)}`);
  check(await serverRows.first().locator('mark').innerText() === qid,
    'the queue id in the transcript is not marked');
  ok(`the transcript has the server line "${serverLine}"`);

  const clientLines = await page.locator('table.transcript tr.client code').allInnerTexts();
  check(clientLines.some((l) => l.trim() === 'QUIT'),
    `no client line "QUIT" in the transcript: ${JSON.stringify(clientLines)}`);
  for (const cmd of [/^(EHLO|HELO) /, /^MAIL FROM:<darth@starwars\.univ>/,
    new RegExp(`^RCPT TO:<${recipient.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>`), /^DATA$/]) {
    check(clientLines.some((l) => cmd.test(l.trim())),
      `no client line ${cmd} in the transcript: ${JSON.stringify(clientLines)}`);
  }
  ok(`the transcript has the client lines EHLO, MAIL FROM, RCPT TO, DATA and QUIT`);

  // This Postfix offers no STARTTLS: no lock, and no legend for one.
  const key = page.locator('p.legend img.lock');
  check(!(await key.isVisible()), 'the legend explains a lock in a dialogue without TLS');
  check(await page.locator('table.transcript img.lock').count() === 0,
    'a line of a dialogue without TLS has a lock');
  check(await key.evaluate((img) => img.complete && img.naturalWidth > 0),
    'the lock image did not load');
  ok('no lock in a dialogue without TLS; the lock image loads');

  check(await page.getByLabel('Subject').inputValue() === SUBJECT,
    `the form came back with subject ${JSON.stringify(await page.getByLabel('Subject').inputValue())}`);
  ok('the form came back with the subject as typed');

  await shot(page, 'send-result.png');
  watcher.noProblems('send');
  ok('send: no console errors, CSP violations or failed loads');
  return qid;
}

// A recipient that the test Postfix does not have: it answers 550.  On a
// phone, the reply must show whole (no hidden overflow) and the dialogue's
// words must not be cut in two where a space would do.
async function refused(page) {
  step = 'refused';
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${BASE}/send`);
  await page.getByLabel('From').fill(FROM);
  await page.getByLabel('To').fill(`nosuchuser@${recipient.split('@')[1]}`);
  await page.getByLabel('Message').fill('to nobody');
  watcher.expectedConsole = [[/status of 502 \(Bad Gateway\)/, 'the 502 of POST /send']];
  const res = await submit(page);
  check(res.status() === 502, `POST /send to an unknown user answered ${res.status()}, expected 502`);
  ok('POST /send to an unknown user is 502');

  // The one recipient's refusal is listed, whole, and not shown twice.
  const listed = await page.locator('ul.refused li').allInnerTexts();
  check(listed.length === 1 && /refused: 550 .*User unknown/s.test(listed[0]),
    `the refusals listed are ${JSON.stringify(listed)}`);
  check(await page.locator('pre.reply').innerText() === '',
    'the reply box repeats the refusal listed');
  const wide = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(wide[0] <= wide[1], `the page is ${wide[0]} px wide in a ${wide[1]} px window`);
  ok('the 550 shows once, in the list of refusals, and the page fits the phone');

  // Each short word of the transcript's 550 line is drawn on one line.
  const broken = await page.evaluate(() => {
    const code = [...document.querySelectorAll('table.transcript tr.server code')]
      .find((c) => c.textContent.startsWith('550 '));
    if (!code)
      return ['(no 550 line)'];
    const text = code.firstChild;
    const out = [];
    for (const m of text.textContent.matchAll(/\S+/g)) {
      if (m[0].length > 12)
        continue;		// may be longer than the cell: breaks anywhere
      const r = document.createRange();
      r.setStart(text, m.index);
      r.setEnd(text, m.index + m[0].length);
      if (r.getClientRects().length > 1)
        out.push(m[0]);
    }
    return out;
  });
  check(broken.length === 0, `words split across lines: ${JSON.stringify(broken)}`);
  ok('no short word of the 550 line is split across lines');

  await shot(page, 'send-refused-phone.png');
  watcher.noProblems('refused');
  watcher.expectedConsole = [];
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function xss(page) {
  step = 'xss';
  const resp = await page.goto(`${BASE}/send`);
  check(resp && resp.status() === 200, `GET /send answered ${resp && resp.status()}`);
  await page.getByLabel('From').fill(XSS_FROM);
  await page.getByLabel('To').fill(recipient);
  await page.getByLabel('Subject').fill(XSS_SUBJECT);
  await page.getByLabel('Message').fill(XSS_BODY);
  ok('filled in the form with markup in from, subject and body');

  // Chromium logs the 400 of the page it loads; that one is expected.
  watcher.expectedConsole = [[/status of 400 \(Bad Request\)/, 'the 400 of POST /send']];
  const res = await submit(page);
  check(res.status() === 400, `POST /send with an invalid from answered ${res.status()}, expected 400`);
  ok('POST /send with an invalid from is 400');

  const pwned = await page.evaluate(() => typeof window.__pwned);
  check(pwned === 'undefined', `window.__pwned is ${pwned}: the markup ran`);
  check(dialogs.length === 0, `dialogs fired: ${JSON.stringify(dialogs)}`);
  const injected = await page.evaluate(() => ({
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].filter((e) => e.text.includes('__pwned')).length,
    onerror: document.querySelectorAll('[onerror]').length,
    forms: document.querySelectorAll('form.send').length,
  }));
  check(injected.imgs === 0 && injected.scripts === 0 && injected.onerror === 0,
    `the page has elements made from the typed text: ${JSON.stringify(injected)}`);
  check(injected.forms === 1, `expected the form once, found ${injected.forms}`);
  ok('window.__pwned is undefined, no dialog, no <img>/<script> made from the input');

  const fields = {
    From: XSS_FROM, To: recipient, Subject: XSS_SUBJECT, Message: XSS_BODY,
  };
  for (const [label, typed] of Object.entries(fields)) {
    const value = await page.getByLabel(label).inputValue();
    check(value === typed, `the ${label} field shows ${JSON.stringify(value)}, typed ${JSON.stringify(typed)}`);
  }
  ok('every field shows the typed text as text');

  const err = (await page.locator('#from-error').innerText()).trim();
  check(err.length > 0, 'no error next to the From field');
  check(!(await page.getByText('Mail queued').count()), 'the page says "Mail queued"');
  ok(`the error next to From says ${JSON.stringify(err)}`);

  await shot(page, 'send-invalid.png');
  watcher.noProblems('xss');
  watcher.expectedConsole = [];
  ok('xss: no console errors, CSP violations or failed loads');
}

runInChromium({
  shotDir, failureShot: 'failure.png', watch, step: () => step,
  // A CSP violation seen from inside the page is a problem.
  onCsp: (v) => problems.push(`CSP violation: ${v.directive} blocked ${v.blocked}` +
    ` (${v.source}:${v.line}) ${v.sample}`),
  body: async (browser, page) => {
    await guide(page);
    const qid = await sendForm(page);
    await refused(page);
    await xss(page);

    console.log('sent: ' + JSON.stringify({ subject: SUBJECT, body: BODY, queue_id: qid, from: FROM }));
    ok('all');
  },
});
