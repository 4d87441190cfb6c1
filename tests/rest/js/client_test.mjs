// The official Elasticsearch client (8.x) against seqsim: index, get, compare-and-set,
// a stale compare-and-set (409), bulk with a failing item, search with seq_no_primary_term.
// Usage: node client_test.mjs http://127.0.0.1:9200   (exits non-zero on any mismatch)
import { Client, errors } from '@elastic/elasticsearch';

const url = process.argv[2] ?? 'http://127.0.0.1:9200';
const client = new Client({ node: url, requestTimeout: 30000, maxRetries: 0 });
const index = `jsclient-${Date.now()}`;
let failures = 0;

function check(name, condition, detail) {
  if (condition) {
    console.log(`ok   ${name}`);
  } else {
    failures++;
    console.log(`FAIL ${name}: ${JSON.stringify(detail)}`);
  }
}

async function main() {
  const info = await client.info();
  check('info: version 8.x', info.version.number.startsWith('8.'), info);

  const created = await client.index({ index, id: '1', document: { title: 'Interstellar', year: 2014 } });
  check('index: created', created.result === 'created' && created._version === 1, created);
  check('index: _seq_no and _primary_term', created._seq_no >= 0 && created._primary_term >= 1, created);

  const got = await client.get({ index, id: '1' });
  check('get: found with source', got.found === true && got._source.title === 'Interstellar', got);
  check('get: seq_no matches index', got._seq_no === created._seq_no && got._primary_term === created._primary_term, got);

  const cas = await client.index({
    index, id: '1', document: { title: 'Interstellar', year: 2015 },
    if_seq_no: got._seq_no, if_primary_term: got._primary_term,
  });
  check('cas: updated', cas.result === 'updated' && cas._version === 2 && cas._seq_no > got._seq_no, cas);

  try {
    await client.index({
      index, id: '1', document: { title: 'stale' },
      if_seq_no: got._seq_no, if_primary_term: got._primary_term,
    });
    check('stale cas: rejected', false, 'write was accepted');
  } catch (e) {
    const ok = e instanceof errors.ResponseError && e.meta.statusCode === 409 &&
      e.body?.error?.type === 'version_conflict_engine_exception';
    check('stale cas: ResponseError 409 version_conflict_engine_exception', ok, e.body ?? String(e));
  }

  const bulk = await client.bulk({
    refresh: true,
    operations: [
      { index: { _index: index, _id: '2' } }, { title: 'Arrival', year: 2016 },
      { create: { _index: index, _id: '1' } }, { title: 'duplicate' },
      { index: { _index: index, _id: '3' } }, { title: 'Dune', year: 2021 },
    ],
  });
  check('bulk: errors true', bulk.errors === true, bulk);
  check('bulk: item statuses 201/409/201',
    bulk.items.length === 3 && bulk.items[0].index.status === 201 &&
    bulk.items[1].create.status === 409 &&
    bulk.items[1].create.error.type === 'version_conflict_engine_exception' &&
    bulk.items[2].index.status === 201, bulk.items);

  const search = await client.search({ index, seq_no_primary_term: true, query: { match_all: {} } });
  const hits = search.hits.hits;
  check('search: 3 hits', search.hits.total.value === 3 && hits.length === 3, search.hits);
  check('search: hits carry _seq_no and _primary_term',
    hits.every((h) => Number.isInteger(h._seq_no) && Number.isInteger(h._primary_term)), hits);
  const one = hits.find((h) => h._id === '1');
  check('search: doc 1 has the CAS seq_no', one && one._seq_no === cas._seq_no, one);

  const term = await client.search({ index, query: { term: { year: 2016 } } });
  check('search: term query', term.hits.hits.length === 1 && term.hits.hits[0]._id === '2', term.hits);

  const plain = await client.search({ index, query: { ids: { values: ['3'] } } });
  check('search: no _seq_no without seq_no_primary_term',
    plain.hits.hits.length === 1 && plain.hits.hits[0]._seq_no === undefined, plain.hits);

  // Issue 16: the query DSL, sort, _mget and _count through the client's own methods.
  const match = await client.search({ index, query: { match: { title: 'DUNE arrival' } } });
  check('search: match ORs analyzed words',
    match.hits.hits.map((h) => h._id).sort().join() === '2,3', match.hits);
  const sorted = await client.search({ index, sort: [{ year: 'desc' }],
    query: { bool: { filter: [{ range: { year: { gte: 2015 } } }] } } });
  check('search: sort with sort values',
    sorted.hits.hits.map((h) => h.sort[0]).join() === '2021,2016,2015', sorted.hits);
  const mget = await client.mget({ docs: [{ _index: index, _id: '1' }, { _index: index, _id: '9' }] });
  check('mget: found and not found in order',
    mget.docs.length === 2 && mget.docs[0].found === true &&
    mget.docs[0]._source.year === 2015 && mget.docs[1].found === false, mget);
  const ids = await client.mget({ index, ids: ['3', '2'] });
  check('mget: ids', ids.docs.map((d) => d._id).join() === '3,2' && ids.docs.every((d) => d.found), ids);
  const count = await client.count({ index, query: { range: { year: { gt: 2015 } } } });
  check('count: with a query', count.count === 2 && count._shards.failed === 0, count);

  // Issue 16: routing and refresh through the client. Murmur3 routing puts "user-17" on
  // shard 9 of 10, as in Elasticsearch; with refresh_interval -1 nothing is searchable
  // until a refresh.
  const routed = `${index}-routed`;
  await client.indices.create({ index: routed,
    settings: { number_of_shards: 10, number_of_replicas: 1, refresh_interval: '-1' } });
  await client.cluster.health({ index: routed, wait_for_status: 'green', timeout: '30s' });
  await client.index({ index: routed, id: 'r1', routing: 'user-17', document: { n: 1 } });
  const rget = await client.get({ index: routed, id: 'r1', routing: 'user-17' });
  check('routing: get shows _routing', rget.found === true && rget._routing === 'user-17', rget);
  const before = await client.search({ index: routed, query: { match_all: {} } });
  check('refresh: not searchable before a refresh', before.hits.total.value === 0, before.hits);
  const refreshed = await client.indices.refresh({ index: routed });
  check('refresh: every copy refreshed',
    refreshed._shards.total === 20 && refreshed._shards.successful === 20, refreshed);
  const after = await client.search({ index: routed, routing: 'user-17', query: { match_all: {} } });
  check('routing: search by routing hits one shard and shows _routing',
    after._shards.total === 1 && after.hits.hits.length === 1 &&
    after.hits.hits[0]._routing === 'user-17', after);
  const rcount = await client.count({ index: routed, routing: 'user-17' });
  check('routing: count by routing', rcount.count === 1 && rcount._shards.total === 1, rcount);
  const rmget = await client.mget({ docs: [{ _index: routed, _id: 'r1', routing: 'user-17' }] });
  check('routing: mget by routing', rmget.docs[0].found === true, rmget);
  const shards = await client.cat.shards({ index: routed, format: 'json', h: 'shard,prirep,docs' });
  check('routing: the document is on shard 9, as in Elasticsearch',
    shards.filter((r) => r.prirep === 'p' && r.docs === '1').map((r) => r.shard).join() === '9',
    shards);
  const waited = await client.index({ index, id: 'w1', refresh: 'wait_for', document: { n: 2 } });
  const seen = await client.search({ index, query: { ids: { values: ['w1'] } } });
  check('refresh: wait_for answers once the write is searchable',
    waited.result === 'created' && seen.hits.hits.length === 1, seen.hits);
}

main().then(() => {
  if (failures > 0) {
    console.log(`${failures} check(s) failed`);
    process.exit(1);
  }
  console.log('all client checks passed');
}).catch((e) => {
  console.log('FAIL unexpected error:', e?.meta?.body ?? e);
  process.exit(1);
});
