#!/usr/bin/env node
// commit.mjs: a Storage Commitment Push Model SCU (and a C-ECHO SCU) built on
// dcmjs-dimse, an implementation independent of minipacs, to test the
// minipacs DIMSE front door against.
//
//   node commit.mjs --host 127.0.0.1 --port P --called MINIPACS --calling COMMITSCU \
//     --listen-port L --timeout 30 [--linger S] --uid SOPCLASS:SOPINSTANCE [--uid ...]
//   node commit.mjs --echo --host 127.0.0.1 --port P --called MINIPACS --calling COMMITSCU
//
// In commitment mode it listens on 127.0.0.1:L for the N-EVENT-REPORT, sends
// N-ACTION-RQ (action type 1, a fresh Transaction UID), waits for the
// N-EVENT-REPORT-RQ with that Transaction UID, on a new association or on the
// N-ACTION one, answers it with Success and prints one JSON line on stdout:
//   {"actionStatus":0,"eventTypeId":2,"transactionUid":"…",
//    "committed":[{"sopClass":"…","sopInstance":"…"}],
//    "failed":[{"sopClass":"…","sopInstance":"…","reason":274}],
//    "association":"new"|"same"}
// and exits 0. It exits 1 with a message on stderr on timeout, network error,
// association rejection, a non-Success N-ACTION-RSP (then stdout holds
// {"actionStatus":N} alone) or a malformed N-EVENT-REPORT.
//
// The N-ACTION association is released as soon as the N-ACTION-RSP is in,
// unless --linger S keeps it open up to S seconds (or until the report
// arrives) so that the SCP may send the N-EVENT-REPORT on it.
//
// With --echo it sends one C-ECHO-RQ and prints {"echoStatus":N}; exit 0 when
// N is 0 (Success).
//
// Progress goes to stderr; --verbose adds dcmjs-dimse's own log (also stderr).
import { parseArgs } from 'node:util';
import dimse from 'dcmjs-dimse';

const { Client, Server, Scp, Dataset, log } = dimse;
const { CEchoRequest, NActionRequest } = dimse.requests;
const { CEchoResponse, NEventReportResponse } = dimse.responses;
const { Status, SopClass, TransferSyntax, PresentationContextResult } = dimse.constants;

const commitmentClass = SopClass.StorageCommitmentPushModel; // 1.2.840.10008.1.20.1
const commitmentInstance = '1.2.840.10008.1.20.1.1';

function usage(msg) {
  process.stderr.write(
    `commit.mjs: ${msg}\n` +
      'usage: node commit.mjs --host H --port P --called AE --calling AE ' +
      '(--echo | --listen-port L --uid SOPCLASS:SOPINSTANCE [--uid ...]) ' +
      '[--timeout S] [--linger S] [--verbose]\n'
  );
  process.exit(1);
}

let args;
try {
  args = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      called: { type: 'string', default: 'MINIPACS' },
      calling: { type: 'string', default: 'COMMITSCU' },
      'listen-port': { type: 'string' },
      timeout: { type: 'string', default: '30' },
      linger: { type: 'string', default: '0' },
      uid: { type: 'string', multiple: true, default: [] },
      echo: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  usage(e.message);
}

const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) usage('--port must be a TCP port');
const timeoutMs = Number(args.timeout) * 1000;
if (!(timeoutMs > 0)) usage('--timeout must be a positive number of seconds');
const lingerMs = Number(args.linger) * 1000;
if (!(lingerMs >= 0)) usage('--linger must be a non-negative number of seconds');

// dcmjs-dimse logs through loglevel to console.log/info (stdout); stdout is
// reserved for the one JSON line, so its log is silenced or moved to stderr.
if (args.verbose) {
  for (const m of ['log', 'info', 'debug', 'trace']) console[m] = console.error;
  log.setLevel('info');
} else {
  log.setLevel('silent');
}

function note(msg) {
  process.stderr.write(`commit.mjs: ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`commit.mjs: ${msg}\n`);
  process.exit(1);
}

function hex(status) {
  return `0x${status.toString(16).padStart(4, '0')}`;
}

const timeouts = { connectTimeout: timeoutMs, associationTimeout: timeoutMs, pduTimeout: timeoutMs };

if (args.echo) {
  echo();
} else {
  commit();
}

function echo() {
  const timer = setTimeout(() => fail(`timeout after ${args.timeout} s waiting for C-ECHO-RSP`), timeoutMs);
  const client = new Client();
  const request = new CEchoRequest();
  let status;
  request.on('response', (response) => {
    status = response.getStatus();
  });
  client.addRequest(request);
  client.on('associationAccepted', (association) => {
    if (!association.getAcceptedPresentationContextFromRequest(request)) {
      fail('the SCP rejected the Verification presentation context');
    }
  });
  client.on('associationRejected', (r) =>
    fail(`association rejected: result ${r.result} source ${r.source} reason ${r.reason}`)
  );
  client.on('networkError', (e) => fail(`network error: ${e.message}`));
  client.on('closed', () => {
    clearTimeout(timer);
    if (status === undefined) fail('association closed without a C-ECHO-RSP');
    process.stdout.write(JSON.stringify({ echoStatus: status }) + '\n');
    process.exit(status === Status.Success ? 0 : 1);
  });
  client.send(args.host, port, args.calling, args.called, timeouts);
}

// items returns a sequence value as an array: dcmjs naturalizes a sequence to
// an array of items, but be lenient with a lone item object.
function items(seq) {
  if (seq === undefined || seq === null || seq === '') return [];
  return Array.isArray(seq) ? seq : [seq];
}

function single(v) {
  return Array.isArray(v) ? v[0] : v;
}

// parseReport checks an N-EVENT-REPORT-RQ against the Storage Commitment
// Push Model and returns its content, or throws.
function parseReport(request) {
  const cls = request.getAffectedSopClassUid();
  const inst = request.getAffectedSopInstanceUid();
  if (cls !== commitmentClass) throw new Error(`N-EVENT-REPORT affected SOP class ${cls}, want ${commitmentClass}`);
  if (inst !== commitmentInstance) {
    throw new Error(`N-EVENT-REPORT affected SOP instance ${inst}, want ${commitmentInstance}`);
  }
  const eventTypeId = request.getEventTypeId();
  if (eventTypeId !== 1 && eventTypeId !== 2) throw new Error(`N-EVENT-REPORT event type ${eventTypeId}, want 1 or 2`);
  const ds = request.getDataset();
  if (!ds) throw new Error('N-EVENT-REPORT without a data set');
  const el = ds.getElements();
  const transactionUid = single(el.TransactionUID);
  if (!transactionUid) throw new Error('N-EVENT-REPORT data set without TransactionUID (0008,1195)');
  const committed = items(el.ReferencedSOPSequence).map((it) => ({
    sopClass: single(it.ReferencedSOPClassUID),
    sopInstance: single(it.ReferencedSOPInstanceUID),
  }));
  const failed = items(el.FailedSOPSequence).map((it) => ({
    sopClass: single(it.ReferencedSOPClassUID),
    sopInstance: single(it.ReferencedSOPInstanceUID),
    reason: single(it.FailureReason),
  }));
  for (const r of [...committed, ...failed]) {
    if (!r.sopClass || !r.sopInstance) throw new Error('N-EVENT-REPORT item without SOP class or instance UID');
  }
  for (const r of failed) {
    if (typeof r.reason !== 'number') throw new Error(`failed item ${r.sopInstance} without FailureReason (0008,1197)`);
  }
  if (eventTypeId === 1 && failed.length > 0) throw new Error('event type 1 (all success) with a FailedSOPSequence');
  if (eventTypeId === 2 && failed.length === 0) throw new Error('event type 2 (failures) without a FailedSOPSequence');
  return { eventTypeId, transactionUid, committed, failed };
}

function commit() {
  const listenPort = Number(args['listen-port']);
  if (!Number.isInteger(listenPort) || listenPort <= 0 || listenPort > 65535) {
    usage('--listen-port must be a TCP port');
  }
  if (args.uid.length === 0) usage('at least one --uid SOPCLASS:SOPINSTANCE');
  const refs = args.uid.map((u) => {
    const i = u.indexOf(':');
    if (i <= 0 || i === u.length - 1) usage(`--uid ${u}: want SOPCLASS:SOPINSTANCE`);
    return { ReferencedSOPClassUID: u.slice(0, i), ReferencedSOPInstanceUID: u.slice(i + 1) };
  });
  const transactionUid = Dataset.generateDerivedUid();

  let actionStatus;
  let result; // set once the report with our Transaction UID is answered
  let clientOpen = false;
  let server;
  let client;

  const timer = setTimeout(
    () => fail(`timeout after ${args.timeout} s waiting for ${actionStatus === undefined ? 'N-ACTION-RSP' : 'N-EVENT-REPORT'}`),
    timeoutMs
  );

  function finish() {
    clearTimeout(timer);
    server.close();
    process.stdout.write(JSON.stringify({ actionStatus, ...result }) + '\n');
    process.exit(0);
  }

  // maybeFinish ends once the report is in and the N-ACTION association is
  // closed; a lingering association is released now rather than at the end
  // of the linger (Client.send has no release method: its network is used).
  function maybeFinish() {
    if (!result) return;
    if (clientOpen) {
      if (client.network && !client.releasing) {
        client.releasing = true;
        client.network.sendAssociationReleaseRequest();
      }
      return;
    }
    finish();
  }

  // report handles an N-EVENT-REPORT-RQ received on either association.
  function report(request, callback, association) {
    const response = NEventReportResponse.fromRequest(request);
    let r;
    try {
      r = parseReport(request);
    } catch (e) {
      response.setStatus(Status.InvalidArgumentValue);
      response.setErrorComment(e.message.slice(0, 64));
      callback(response);
      // Let the response go out before exiting.
      setTimeout(() => fail(e.message), 200);
      return;
    }
    response.setStatus(Status.Success);
    callback(response);
    if (r.transactionUid !== transactionUid) {
      note(`N-EVENT-REPORT for another transaction ${r.transactionUid} (want ${transactionUid}), answered and ignored`);
      return;
    }
    if (result) {
      note('second N-EVENT-REPORT for the transaction, answered and ignored');
      return;
    }
    note(`N-EVENT-REPORT event type ${r.eventTypeId} on the ${association} association`);
    result = { ...r, association };
    // Let the response be written before the release or exit.
    setImmediate(maybeFinish);
  }

  // CommitmentScp accepts Storage Commitment Push Model (and Verification)
  // from any AE and hands N-EVENT-REPORTs to report.
  class CommitmentScp extends Scp {
    associationRequested(association) {
      this.association = association;
      const peer = `${association.getCallingAeTitle()}@${this.socket.remoteAddress}:${this.socket.remotePort}`;
      for (const c of association.getPresentationContexts()) {
        const context = association.getPresentationContext(c.id);
        const abstract = context.getAbstractSyntaxUid();
        if (abstract !== commitmentClass && abstract !== SopClass.Verification) {
          context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
          continue;
        }
        const ts = context
          .getTransferSyntaxUids()
          .find((t) => t === TransferSyntax.ExplicitVRLittleEndian || t === TransferSyntax.ImplicitVRLittleEndian);
        if (ts) {
          context.setResult(PresentationContextResult.Accept, ts);
        } else {
          context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        }
        if (abstract === commitmentClass) {
          note(
            `association from ${peer} to ${association.getCalledAeTitle()}: commitment context ${c.id} ` +
              `${ts ? `accepted with ${ts}` : 'rejected'}, role selection ` +
              `SCU=${context.getUserRole()} SCP=${context.getProviderRole()}`
          );
        }
      }
      this.sendAssociationAccept();
    }

    associationReleaseRequested() {
      this.sendAssociationReleaseResponse();
    }

    cEchoRequest(request, callback) {
      const response = CEchoResponse.fromRequest(request);
      response.setStatus(Status.Success);
      callback(response);
    }

    nEventReportRequest(request, callback) {
      report(request, callback, 'new');
    }
  }

  server = new Server(CommitmentScp);
  server.on('networkError', (e) => fail(`listener on 127.0.0.1:${listenPort}: ${e.message}`));
  server.on('listening', () => {
    const request = new NActionRequest(commitmentClass, commitmentInstance, 1);
    request.setDataset(new Dataset({ TransactionUID: transactionUid, ReferencedSOPSequence: refs }));
    request.on('response', (response) => {
      actionStatus = response.getStatus();
      note(`N-ACTION-RSP status ${hex(actionStatus)}`);
      if (actionStatus !== Status.Success) {
        clearTimeout(timer);
        process.stdout.write(JSON.stringify({ actionStatus }) + '\n');
        fail(`N-ACTION failed with status ${hex(actionStatus)} ${response.getErrorComment() || ''}`.trim());
      }
    });

    client = new Client();
    client.addRequest(request);
    client.on('associationAccepted', (association) => {
      clientOpen = true;
      const context = association.getAcceptedPresentationContextFromRequest(request);
      if (!context) fail('the SCP rejected the Storage Commitment Push Model presentation context');
      note(`N-ACTION association accepted, commitment context with ${context.getAcceptedTransferSyntaxUid()}`);
    });
    client.on('associationRejected', (r) =>
      fail(`association rejected: result ${r.result} source ${r.source} reason ${r.reason}`)
    );
    client.on('networkError', (e) => {
      if (result) {
        clientOpen = false;
        maybeFinish();
        return;
      }
      fail(`network error: ${e.message}`);
    });
    client.on('nEventReportRequest', (req, callback) => report(req, callback, 'same'));
    client.on('closed', () => {
      clientOpen = false;
      if (actionStatus === undefined) fail('N-ACTION association closed without an N-ACTION-RSP');
      maybeFinish();
    });
    client.send(args.host, port, args.calling, args.called, {
      ...timeouts,
      associationLingerTimeout: lingerMs,
    });
  });
  // Server.listen is typed to take a port only and binds every interface; it
  // hands its argument to net.Server.listen, which takes an options object,
  // so the listener is bound to the loopback interface only.
  server.listen({ port: listenPort, host: '127.0.0.1' }, timeouts);
}
