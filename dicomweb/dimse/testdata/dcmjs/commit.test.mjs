// Tests of commit.mjs against fake-scp.mjs, both on dcmjs-dimse: the
// client's own check before it is pointed at minipacs. Run with `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const ct = '1.2.840.10008.5.1.4.1.1.2'; // CT Image Storage
const mr = '1.2.840.10008.5.1.4.1.1.4'; // MR Image Storage

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// startFake starts fake-scp.mjs and resolves once it listens; the test
// context kills it at the end.
function startFake(t, port, extra) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, 'fake-scp.mjs'), '--port', String(port), ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.on('data', (d) => {
      if (String(d).includes('listening')) resolve(p);
    });
    p.on('exit', (code) => reject(new Error(`fake-scp exited ${code}: ${stderr}`)));
    t.after(() => p.kill());
  });
}

// run runs commit.mjs and resolves with its exit code, stdout and stderr.
function run(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(here, 'commit.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// oneJSON parses stdout, which must be exactly one JSON line.
function oneJSON(stdout) {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout lines: ${JSON.stringify(lines)}`);
  return JSON.parse(lines[0]);
}

const cases = [
  {
    name: 'new association, one instance failed',
    fake: [],
    client: [],
    uids: [`${ct}:1.2.3.4.1`, `${mr}:1.2.3.4.99`, `${ct}:1.2.3.4.2`],
    want: {
      actionStatus: 0,
      eventTypeId: 2,
      committed: [
        { sopClass: ct, sopInstance: '1.2.3.4.1' },
        { sopClass: ct, sopInstance: '1.2.3.4.2' },
      ],
      failed: [{ sopClass: mr, sopInstance: '1.2.3.4.99', reason: 0x0112 }],
      association: 'new',
    },
  },
  {
    name: 'new association, all committed',
    fake: [],
    client: [],
    uids: [`${ct}:1.2.3.5.1`],
    want: {
      actionStatus: 0,
      eventTypeId: 1,
      committed: [{ sopClass: ct, sopInstance: '1.2.3.5.1' }],
      failed: [],
      association: 'new',
    },
  },
  {
    name: 'new association with SCP role selection proposed',
    fake: ['--role-select'],
    client: [],
    uids: [`${mr}:1.2.3.10.1`, `${mr}:1.2.3.10.2`],
    want: {
      actionStatus: 0,
      eventTypeId: 1,
      committed: [
        { sopClass: mr, sopInstance: '1.2.3.10.1' },
        { sopClass: mr, sopInstance: '1.2.3.10.2' },
      ],
      failed: [],
      association: 'new',
    },
  },
  {
    name: 'same association while the requester lingers',
    fake: ['--same'],
    client: ['--linger', '20'],
    uids: [`${ct}:1.2.3.6.1`, `${ct}:1.2.3.6.99`],
    want: {
      actionStatus: 0,
      eventTypeId: 2,
      committed: [{ sopClass: ct, sopInstance: '1.2.3.6.1' }],
      failed: [{ sopClass: ct, sopInstance: '1.2.3.6.99', reason: 0x0112 }],
      association: 'same',
    },
  },
];

for (const c of cases) {
  test(c.name, async (t) => {
    const [scpPort, listenPort] = [await freePort(), await freePort()];
    await startFake(t, scpPort, ['--peer', `COMMITSCU=127.0.0.1:${listenPort}`, ...c.fake]);
    const args = ['--host', '127.0.0.1', '--port', String(scpPort), '--called', 'MINIPACS', '--calling', 'COMMITSCU'];
    args.push('--listen-port', String(listenPort), '--timeout', '20', ...c.client);
    for (const u of c.uids) args.push('--uid', u);
    const started = Date.now();
    const r = await run(args);
    assert.equal(r.code, 0, r.stderr);
    const got = oneJSON(r.stdout);
    assert.match(got.transactionUid, /^[0-9]+(\.[0-9]+)+$/);
    delete got.transactionUid;
    assert.deepEqual(got, c.want);
    // A lingering association is released once the report is in, not at
    // the end of the linger.
    assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
  });
}

test('timeout when no report comes', async (t) => {
  const [scpPort, listenPort] = [await freePort(), await freePort()];
  await startFake(t, scpPort, ['--no-report']);
  const r = await run(['--port', String(scpPort), '--listen-port', String(listenPort), '--timeout', '2', '--uid', `${ct}:1.2.3.7.1`]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /timeout after 2 s waiting for N-EVENT-REPORT/);
});

test('report on the released N-ACTION association is not received', async (t) => {
  const [scpPort, listenPort] = [await freePort(), await freePort()];
  await startFake(t, scpPort, ['--same', '--delay', '500']);
  const r = await run(['--port', String(scpPort), '--listen-port', String(listenPort), '--timeout', '3', '--uid', `${ct}:1.2.3.8.1`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /timeout/);
});

test('N-ACTION failure status', async (t) => {
  const [scpPort, listenPort] = [await freePort(), await freePort()];
  await startFake(t, scpPort, ['--action-status', String(0x0110)]);
  const r = await run(['--port', String(scpPort), '--listen-port', String(listenPort), '--timeout', '10', '--uid', `${ct}:1.2.3.9.1`]);
  assert.equal(r.code, 1);
  assert.deepEqual(oneJSON(r.stdout), { actionStatus: 0x0110 });
  assert.match(r.stderr, /N-ACTION failed with status 0x0110/);
});

test('echo', async (t) => {
  const scpPort = await freePort();
  await startFake(t, scpPort, []);
  const r = await run(['--echo', '--port', String(scpPort), '--called', 'MINIPACS', '--calling', 'COMMITSCU']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(oneJSON(r.stdout), { echoStatus: 0 });
});

test('echo to a closed port fails', async () => {
  const r = await run(['--echo', '--port', String(await freePort()), '--timeout', '5']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /network error/);
});
