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

async function main(argv) {
  const [broker, command, ...args] = argv;
  const kafka = new Kafka({
    clientId: 'trib-kafkajs',
    brokers: [broker],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 3 },
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

main(process.argv.slice(2)).then(
  (out) => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (err) => { console.error(err && err.stack ? err.stack : err); process.exit(1); },
);
