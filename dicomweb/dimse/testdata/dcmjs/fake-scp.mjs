#!/usr/bin/env node
// fake-scp.mjs: a test-only Storage Commitment Push Model SCP built on
// dcmjs-dimse, to check commit.mjs without minipacs.
//
//   node fake-scp.mjs --port P [--ae MINIPACS] --peer AE=HOST:PORT [--peer ...]
//     [--same] [--role-select] [--no-report] [--action-status N] [--delay MS] [--verbose]
//
// It listens on 127.0.0.1:P, accepts Verification and Storage Commitment Push
// Model, answers C-ECHO and N-ACTION (action type 1) with Success, then sends
// the N-EVENT-REPORT-RQ: by default on a new association to the requester's
// AE title looked up in the --peer list; with --same on the N-ACTION
// association (the requester must keep it open). Instances whose UID ends in
// ".99" fail with reason 0x0112 (No such object instance) and make the event
// type 2; otherwise it is 1. --no-report answers N-ACTION and sends nothing;
// --action-status N answers a well-formed N-ACTION with status N instead of
// Success (and then sends no report). --role-select proposes SCU/SCP Role
// Selection (SCU role 0, SCP role 1: this AE is the commitment SCP) on the
// new association, as PS3.4 J.3.3 has the SCP do.
// It prints "listening" on stdout when ready and runs until killed.
import { parseArgs } from 'node:util';
import dimse from 'dcmjs-dimse';

const { Client, Server, Scp, Dataset, log } = dimse;
const { NEventReportRequest } = dimse.requests;
const { CEchoResponse, NActionResponse } = dimse.responses;
const { Status, SopClass, TransferSyntax, PresentationContextResult } = dimse.constants;

const commitmentClass = SopClass.StorageCommitmentPushModel;
const commitmentInstance = '1.2.840.10008.1.20.1.1';
const noSuchObjectInstance = 0x0112;

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    ae: { type: 'string', default: 'MINIPACS' },
    peer: { type: 'string', multiple: true, default: [] },
    same: { type: 'boolean', default: false },
    'role-select': { type: 'boolean', default: false },
    'no-report': { type: 'boolean', default: false },
    'action-status': { type: 'string' },
    delay: { type: 'string', default: '50' },
    verbose: { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.verbose) {
  for (const m of ['log', 'info', 'debug', 'trace']) console[m] = console.error;
  log.setLevel('info');
} else {
  log.setLevel('silent');
}

function note(msg) {
  process.stderr.write(`fake-scp: ${msg}\n`);
}

// Client.send builds its presentation contexts from the requests and copies
// only the transfer syntaxes of addAdditionalPresentationContext, never the
// roles, so role selection is proposed by patching the context builder.
if (args['role-select']) {
  const { Association } = dimse.association;
  const build = Association.prototype.addPresentationContextFromRequest;
  Association.prototype.addPresentationContextFromRequest = function (request, transferSyntaxes) {
    const id = build.call(this, request, transferSyntaxes);
    if (request instanceof NEventReportRequest) {
      const context = this.getPresentationContext(id);
      context.setUserRole(false);
      context.setProviderRole(true);
    }
    return id;
  };
}

const peers = new Map();
for (const p of args.peer) {
  const m = /^([^=]+)=(.+):(\d+)$/.exec(p);
  if (!m) {
    note(`--peer ${p}: want AE=HOST:PORT`);
    process.exit(1);
  }
  peers.set(m[1], { host: m[2], port: Number(m[3]) });
}

function items(seq) {
  if (seq === undefined || seq === null || seq === '') return [];
  return Array.isArray(seq) ? seq : [seq];
}

// outcome splits the requested references into committed and failed.
function outcome(el) {
  const committed = [];
  const failed = [];
  for (const it of items(el.ReferencedSOPSequence)) {
    const ref = { ReferencedSOPClassUID: it.ReferencedSOPClassUID, ReferencedSOPInstanceUID: it.ReferencedSOPInstanceUID };
    if (String(it.ReferencedSOPInstanceUID).endsWith('.99')) {
      failed.push({ ...ref, FailureReason: noSuchObjectInstance });
    } else {
      committed.push(ref);
    }
  }
  const ds = { TransactionUID: el.TransactionUID };
  if (committed.length > 0) ds.ReferencedSOPSequence = committed;
  if (failed.length > 0) ds.FailedSOPSequence = failed;
  const request = new NEventReportRequest(commitmentClass, commitmentInstance, failed.length > 0 ? 2 : 1);
  request.setDataset(new Dataset(ds));
  request.on('response', (response) => note(`N-EVENT-REPORT-RSP status 0x${response.getStatus().toString(16)}`));
  return request;
}

class FakeCommitmentScp extends Scp {
  associationRequested(association) {
    this.association = association;
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      const abstract = context.getAbstractSyntaxUid();
      if (abstract !== commitmentClass && abstract !== SopClass.Verification) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      const ts = context
        .getTransferSyntaxUids()
        .find((t) => t === TransferSyntax.ImplicitVRLittleEndian || t === TransferSyntax.ExplicitVRLittleEndian);
      if (ts) context.setResult(PresentationContextResult.Accept, ts);
      else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
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

  nActionRequest(request, callback) {
    const response = NActionResponse.fromRequest(request);
    const el = request.getDataset() ? request.getDataset().getElements() : {};
    if (request.getRequestedSopClassUid() !== commitmentClass) {
      response.setStatus(Status.NoSuchSopClass);
    } else if (request.getRequestedSopInstanceUid() !== commitmentInstance) {
      response.setStatus(Status.NoSuchObjectInstance);
    } else if (request.getActionTypeId() !== 1) {
      response.setStatus(Status.NoSuchActionType);
    } else if (!el.TransactionUID || items(el.ReferencedSOPSequence).length === 0) {
      response.setStatus(Status.MissingAttribute);
    } else if (args['action-status'] !== undefined) {
      response.setStatus(Number(args['action-status']));
    } else {
      response.setStatus(Status.Success);
    }
    callback(response);
    if (response.getStatus() !== Status.Success || args['no-report']) return;

    const report = outcome(el);
    const calling = this.association.getCallingAeTitle();
    setTimeout(() => {
      if (args.same) {
        note(`N-EVENT-REPORT to ${calling} on the same association`);
        this.sendRequests(report);
        return;
      }
      const peer = peers.get(calling);
      if (!peer) {
        note(`no --peer for AE ${calling}: no N-EVENT-REPORT`);
        return;
      }
      note(`N-EVENT-REPORT to ${calling} at ${peer.host}:${peer.port} on a new association`);
      const client = new Client();
      client.addRequest(report);
      client.on('associationAccepted', (association) => {
        const context = association.getAcceptedPresentationContextFromRequest(report);
        if (context) {
          note(`N-EVENT-REPORT association accepted, role selection SCU=${context.getUserRole()} SCP=${context.getProviderRole()}`);
        }
      });
      client.on('networkError', (e) => note(`N-EVENT-REPORT association: ${e.message}`));
      client.send(peer.host, peer.port, args.ae, calling);
    }, Number(args.delay));
  }
}

const server = new Server(FakeCommitmentScp);
server.on('networkError', (e) => {
  note(e.message);
  if (e.code === 'EADDRINUSE') process.exit(1);
});
server.on('listening', () => process.stdout.write('listening\n'));
server.listen({ port: Number(args.port), host: '127.0.0.1' });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
