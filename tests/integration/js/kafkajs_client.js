// kafkajs 2.2 driven by kafkajs_test.py (and capture_test.py). One command per run; the
// result is printed as one JSON line on stdout, errors make the exit code non-zero.
//
//   node kafkajs_client.js BROKER create TOPIC PARTITIONS
//   node kafkajs_client.js BROKER metadata TOPIC
//   node kafkajs_client.js BROKER produce TOPIC COUNT SENDS [none|gzip|snappy|lz4|zstd]
//        sends COUNT records with keys key-<i % 100> and values value-<i> in SENDS
//        sequential send() calls; prints each send's per-partition results
//   node kafkajs_client.js BROKER offsets TOPIC          (ListOffsets: low and high per partition)
//   node kafkajs_client.js BROKER delete TOPIC
//   node kafkajs_client.js BROKER list
//   node kafkajs_client.js BROKER group TOPIC GROUP MEMBERS COUNT
//        MEMBERS consumers of GROUP subscribe to TOPIC; once each has its share of the
//        partitions, COUNT records are sent (value value-<i> to partition i % partitions) and
//        read; prints each member's assignment and every record read, with who read it
//   node kafkajs_client.js BROKER resume TOPIC GROUP AT
//        a consumer of GROUP reads TOPIC (one partition) past AT, commits AT and leaves; a new
//        consumer of GROUP prints the committed offset and the offsets it reads from there
'use strict';

const { Kafka, CompressionCodecs, CompressionTypes, Partitioners, logLevel } = require('kafkajs');
const SnappyCodec = require('kafkajs-snappy');
const LZ4Codec = require('@2l/kafkajs-lz4');
const { ZstdCodec } = require('zstd-codec');

// kafkajs has gzip built in and takes other codecs as plugins: snappy (pure JavaScript) and
// lz4 (prebuilt native binding) as published. The published zstd plugin (@kafkajs/zstd)
// needs a native build that fails on Node 20, so zstd is the same few lines a kafkajs user
// writes around a zstd library: here libzstd compiled to JavaScript (zstd-codec).
function zstdPlugin() {
  const ready = new Promise((resolve) => ZstdCodec.run((zstd) => resolve(zstd)));
  return () => ({
    async compress(encoder) {
      const zstd = await ready;
      return Buffer.from(new zstd.Simple().compress(encoder.buffer, 3));
    },
    async decompress(buffer) {
      const zstd = await ready;  // streaming: frames need not carry their content size
      return Buffer.from(new zstd.Streaming().decompress(buffer));
    },
  });
}
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
CompressionCodecs[CompressionTypes.ZSTD] = zstdPlugin();
const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

// TRIB_KAFKAJS_SECURITY (optional), JSON: {"ca": "<PEM file>"} for TLS trusting that CA,
// "cert" and "key" (PEM files) for a client certificate, and
// "sasl": {"mechanism": "scram-sha-512", "username": ..., "password": ...} for SASL, or
// {"mechanism": "oauthbearer", "token": "<JWT>"} (handed to kafkajs by an oauthBearerProvider).
function security() {
  const conf = process.env.TRIB_KAFKAJS_SECURITY ? JSON.parse(process.env.TRIB_KAFKAJS_SECURITY) : {};
  const out = {};
  const read = (f) => require('fs').readFileSync(f, 'utf-8');
  if (conf.ca) {
    out.ssl = { ca: [read(conf.ca)] };
    if (conf.cert) {
      out.ssl.cert = read(conf.cert);
      out.ssl.key = read(conf.key);
    }
  }
  if (conf.sasl && conf.sasl.mechanism === 'oauthbearer') {
    const value = conf.sasl.token;
    out.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value }) };
  } else if (conf.sasl) {
    out.sasl = conf.sasl;
  }
  return out;
}

async function main(argv) {
  const [broker, command, ...args] = argv;
  const kafka = new Kafka({
    clientId: 'trib-kafkajs',
    brokers: [broker],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 3 },
    ...security(),
  });

  if (command === 'produce') {
    const [topic, count, sends, codec] = [args[0], Number(args[1]), Number(args[2]), args[3]];
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const results = [];
    const perSend = Math.ceil(count / sends);
    for (let start = 0; start < count; start += perSend) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + perSend); i++) {
        messages.push({ key: `key-${i % 100}`, value: `value-${i}` });
      }
      const compression = CODECS[codec || 'none'];
      if (compression === undefined) throw new Error(`unknown codec ${codec}`);
      const meta = await producer.send({ topic, messages, compression });
      results.push({
        first: start,
        count: messages.length,
        partitions: meta.map((m) => ({
          partition: m.partition, errorCode: m.errorCode, baseOffset: Number(m.baseOffset),
        })),
      });
    }
    await producer.disconnect();
    return { results };
  }

  if (command === 'group') return group(kafka, args[0], args[1], Number(args[2]), Number(args[3]));
  if (command === 'resume') return resume(kafka, args[0], args[1], Number(args[2]));

  const admin = kafka.admin();
  await admin.connect();
  try {
    if (command === 'create') {
      const created = await admin.createTopics({
        topics: [{ topic: args[0], numPartitions: Number(args[1]), replicationFactor: 1 }],
        waitForLeaders: true,
      });
      return { created };
    }
    if (command === 'metadata') {
      const { topics } = await admin.fetchTopicMetadata({ topics: [args[0]] });
      return { topics };
    }
    if (command === 'offsets') {
      return { offsets: await admin.fetchTopicOffsets(args[0]) };
    }
    if (command === 'delete') {
      await admin.deleteTopics({ topics: [args[0]], timeout: 30000 });
      return { deleted: args[0] };
    }
    if (command === 'list') {
      return { topics: await admin.listTopics() };
    }
    if (command === 'delete-records') {  // topic partition offset
      await admin.fetchTopicOffsets(args[0]);  // kafkajs 2.2 needs the topic's metadata loaded first
      await admin.deleteTopicRecords({
        topic: args[0], partitions: [{ partition: Number(args[1]), offset: args[2] }],
      });
      return { offsets: await admin.fetchTopicOffsets(args[0]) };
    }
    if (command === 'cluster') {
      return await admin.describeCluster();
    }
    if (command === 'offsets-by-time') {  // topic timestamp
      return { offsets: await admin.fetchTopicOffsetsByTimestamp(args[0], Number(args[1])) };
    }
    if (command === 'alter-config') {  // topic key value (IncrementalAlterConfigs is not in kafkajs: AlterConfigs)
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: 2, name: args[0], configEntries: [{ name: args[1], value: args[2] }] }],
      });
      const described = await admin.describeConfigs({
        includeSynonyms: false, resources: [{ type: 2, name: args[0], configNames: [args[1]] }],
      });
      return { configs: described.resources[0].configEntries };
    }
    throw new Error(`unknown command ${command}`);
  } finally {
    await admin.disconnect();
  }
}

// Group consumers: heartbeats every 500 ms and fetches that wait at most 100 ms (kafkajs
// heartbeats between fetches), so a rebalance is noticed quickly.
function groupConsumer(kafka, groupId) {
  return kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
}

// Resolves when check() holds, polled every 20 ms; rejects after timeoutMs.
function until(check, what, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (check()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

async function group(kafka, topic, groupId, members, count) {
  const consumers = [];
  const assignments = [];  // per member: the partitions of its last join
  const records = [];      // [partition, offset, member, value]
  try {
    for (let m = 0; m < members; m++) {
      const consumer = groupConsumer(kafka, groupId);
      consumers.push(consumer);
      assignments.push([]);
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assignments[m] = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b);
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          records.push([partition, Number(message.offset), m, message.value.toString()]);
        },
      });
    }
    const admin = kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicOffsets(topic)).length;
    await admin.disconnect();
    const share = partitions / members;
    await until(() => assignments.every((a) => a.length === share)
                && new Set(assignments.flat()).size === partitions, `${share} partitions each`);
    const assigned = assignments.map((a) => a.slice());
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const messages = [];
    for (let i = 0; i < count; i++) messages.push({ partition: i % partitions, value: `value-${i}` });
    await producer.send({ topic, messages });
    await producer.disconnect();
    await until(() => records.length >= count, `${count} records`);
    // copies: the disconnects below rebalance the group and replace `assignments` entries
    // before this answer is written out
    return { assigned, final: assignments.map((a) => a.slice()), records: records.slice() };
  } finally {
    for (const c of consumers) await c.disconnect();
  }
}

async function resume(kafka, topic, groupId, at) {
  const firstOffsets = [];
  const first = groupConsumer(kafka, groupId);
  await first.connect();
  await first.subscribe({ topics: [topic], fromBeginning: true });
  await first.run({ autoCommit: false, eachMessage: async ({ message }) => { firstOffsets.push(Number(message.offset)); } });
  await until(() => firstOffsets.length > at, `more than ${at} records`);
  await first.commitOffsets([{ topic, partition: 0, offset: String(at) }]);
  await first.disconnect();

  const admin = kafka.admin();
  await admin.connect();
  const fetched = await admin.fetchOffsets({ groupId, topics: [topic] });
  const end = Number((await admin.fetchTopicOffsets(topic))[0].high);
  await admin.disconnect();
  const offsets = [];
  const second = groupConsumer(kafka, groupId);
  await second.connect();
  await second.subscribe({ topics: [topic], fromBeginning: true });
  await second.run({ autoCommit: false, eachMessage: async ({ message }) => { offsets.push(Number(message.offset)); } });
  try {
    await until(() => offsets.length >= end - at, `the ${end - at} records after the commit`);
  } finally {
    await second.disconnect();
  }
  return { firstRead: firstOffsets.slice(0, at), committed: fetched[0].partitions, offsets };
}

main(process.argv.slice(2)).then(
  (out) => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (err) => { console.error(err && err.stack ? err.stack : err); process.exit(1); },
);
