// The Node.js baseline of the agent benchmark: a JavaScript-action-style client that builds
// the same report (header, one job with its steps, one log tail per step) from the workload
// file and streams it to the collector with @grpc/grpc-js + @grpc/proto-loader, as
// cipulse-agent does, then waits for the ReportAck.
//   node client.js WORKLOAD.json HOST:PORT TOKEN
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [workloadPath, target, token] = process.argv.slice(2);
const w = JSON.parse(fs.readFileSync(workloadPath, 'utf8'));
const protoDir = path.join(__dirname, '..', '..', 'proto');
const def = protoLoader.loadSync('cipulse/v1/collector.proto', {
  includeDirs: [protoDir], keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: true,
});
const Collector = grpc.loadPackageDefinition(def).cipulse.v1.Collector;
const client = new Collector(target, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
md.set('authorization', 'Bearer ' + token);

const call = client.Report(md, { deadline: Date.now() + 10000 }, (err, ack) => {
  client.close();
  if (err) {
    console.error('report failed: ' + err.message);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(ack) + '\n');
});
call.write({ header: w.header });
call.write({ job: w.job });
for (const t of w.tails) {
  // The same 64 KiB bound per chunk as the C agent (these tails fit in one).
  call.write({ log: { job_id: w.job.id, step_number: t.step, seq: 0, text: t.text, last: true,
                      original_size: t.original_size, truncated: t.truncated } });
}
call.end();
