// Validates FHIR R4 JSON resources with the fhir npm package (FHIR.js, an
// independent implementation of the R4 structure definitions): each file
// argument, or standard input when there is none, holds one resource.
// Every message of severity error is printed, one a line, as
// "file: location: message"; the exit status is 1 when there was one.
// Unexpected properties are errors (errorOnUnexpected).
'use strict';
const fs = require('fs');
const { Fhir } = require('fhir');

const fhir = new Fhir();
const inputs = process.argv.slice(2);
if (inputs.length === 0) inputs.push('-');
let failed = false;
for (const name of inputs) {
  const text = fs.readFileSync(name === '-' ? 0 : name, 'utf8');
  let resource;
  try {
    resource = JSON.parse(text);
  } catch (e) {
    console.log(`${name}: not JSON: ${e.message}`);
    failed = true;
    continue;
  }
  const res = fhir.validate(resource, { errorOnUnexpected: true });
  for (const m of res.messages || []) {
    if (m.severity === 'error') {
      failed = true;
      console.log(`${name}: ${m.location}: ${m.message}`);
    } else {
      console.error(`${name}: ${m.severity}: ${m.location}: ${m.message}`);
    }
  }
  if (!res.valid) failed = true;
}
process.exit(failed ? 1 : 0);
