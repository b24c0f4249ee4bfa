// tus-js-client checks for the conformance suite: resumable uploads to /upload/resumable
// the way Supabase documents them (authorization, x-upsert, metadata bucketName /
// objectName / contentType / cacheControl, chunkSize 6 MiB). Configuration comes from the
// environment (CF_REST_URL, CF_SERVICE_JWT, CF_ONLY); each check prints one JSON line
// {name, ok, message}.
import { Readable } from 'node:stream'
import * as tus from 'tus-js-client'
import { Failed, ensure, suite } from './harness.mjs'

const REST_URL = process.env.CF_REST_URL.replace(/\/?$/, '/')
const JWT = process.env.CF_SERVICE_JWT
const ENDPOINT = REST_URL + 'upload/resumable'
const MiB = 1024 * 1024
const AUTH = { authorization: `Bearer ${JWT}`, apikey: JWT }

const { check, cleanup, run } = suite(120000)

const equal = (actual, expected, what) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Failed(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}
const unique = (hint) => `cf-tus${hint}-${Math.random().toString(16).slice(2, 12)}`

function payload (size, seed = 1) {
  const out = Buffer.alloc(size)
  let x = 2166136261 ^ seed
  for (let i = 0; i < size; i++) { x = (x * 16777619 + i) >>> 0; out[i] = x >>> 24 }
  return out
}

async function rest (method, path, body, headers = {}) {
  const init = { method, headers: { ...AUTH, ...headers } }
  if (body !== undefined) {
    init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
    if (!Buffer.isBuffer(body) && typeof body !== 'string') init.headers['content-type'] = 'application/json'
  }
  return fetch(REST_URL + path, init)
}

async function bucket (options = {}) {
  const id = unique('')
  const r = await rest('POST', 'bucket', { name: id, ...options })
  if (!r.ok) throw new Failed(`create bucket: ${r.status} ${await r.text()}`)
  cleanup(async () => { await rest('POST', `bucket/${id}/empty`, {}); await rest('DELETE', `bucket/${id}`) })
  return id
}

async function download (id, name) {
  const r = await rest('GET', `object/${id}/${name.split('/').map(encodeURIComponent).join('/')}`)
  if (!r.ok) throw new Failed(`download ${name}: ${r.status} ${await r.text()}`)
  return Buffer.from(await r.arrayBuffer())
}

// One upload, as a promise: resolves with the tus.Upload, rejects with the client's error.
function upload (input, options, { onStarted } = {}) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(input, {
      endpoint: ENDPOINT,
      retryDelays: [],
      headers: { ...AUTH },
      chunkSize: 6 * MiB,
      removeFingerprintOnSuccess: true,
      ...options,
      onError: (e) => reject(e),
      onSuccess: () => resolve(u)
    })
    u.start()
    if (onStarted) onStarted(u)
  })
}

const statusOf = (e) => e?.originalResponse?.getStatus?.()
const bodyOf = (e) => e?.originalResponse?.getBody?.()

async function rejected (promise, what) {
  try { await promise } catch (e) { return e }
  throw new Failed(`${what}: expected the upload to fail`)
}

// --- uploads ----------------------------------------------------------------------------

check('uploads: 13 MiB in 6 MiB chunks with the headers supabase-js documents', async () => {
  const id = await bucket()
  const data = payload(13 * MiB + 7)
  await upload(data, {
    headers: { ...AUTH, 'x-upsert': 'true' },
    uploadDataDuringCreation: true,
    metadata: { bucketName: id, objectName: 'folder/big.bin', contentType: 'application/x-big', cacheControl: 3600 }
  })
  ensure((await download(id, 'folder/big.bin')).equals(data), 'downloaded bytes differ')
  const info = await (await rest('GET', `object/info/${id}/folder/big.bin`)).json()
  equal([info.content_type, info.cache_control, info.size], ['application/x-big', 'max-age=3600', data.length], 'info')
})
check('uploads: a small file goes up with its creation request', async () => {
  const id = await bucket()
  const data = payload(1000, 2)
  const u = await upload(data, { uploadDataDuringCreation: true, metadata: { bucketName: id, objectName: 's.bin' } })
  ensure(u.url.startsWith(ENDPOINT + '/'), `upload URL ${u.url}`)
  ensure((await download(id, 's.bin')).equals(data), 'downloaded bytes differ')
})
check('uploads: user metadata from the metadata key', async () => {
  const id = await bucket()
  await upload(payload(10), { metadata: { bucketName: id, objectName: 'm.bin', metadata: JSON.stringify({ a: 'b' }) } })
  const info = await (await rest('GET', `object/info/${id}/m.bin`)).json()
  equal(info.metadata, { a: 'b' }, 'user metadata')
})
check('uploads: uploadLengthDeferred with a stream of unknown length', async () => {
  const id = await bucket()
  const data = payload(8 * MiB + 3, 3)
  const stream = Readable.from((function * () { for (let i = 0; i < data.length; i += 256 * 1024) yield data.subarray(i, i + 256 * 1024) })())
  await upload(stream, { uploadLengthDeferred: true, chunkSize: 5 * MiB, metadata: { bucketName: id, objectName: 'deferred.bin' } })
  ensure((await download(id, 'deferred.bin')).equals(data), 'downloaded bytes differ')
})
check('uploads: small chunks (256 KiB) across the 5 MiB part boundary', async () => {
  const id = await bucket()
  const data = payload(5 * MiB + 300 * 1024, 4)
  await upload(data, { chunkSize: 256 * 1024, metadata: { bucketName: id, objectName: 'tiny.bin' } })
  ensure((await download(id, 'tiny.bin')).equals(data), 'downloaded bytes differ')
})

// --- resuming ---------------------------------------------------------------------------

check('resume: an aborted upload resumes from its URL', async () => {
  const id = await bucket()
  const data = payload(14 * MiB, 5)
  const meta = { bucketName: id, objectName: 'resumed.bin' }
  let url = null
  await new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      endpoint: ENDPOINT, headers: AUTH, chunkSize: 6 * MiB, retryDelays: [], metadata: meta,
      onChunkComplete: (chunk, sent) => { if (sent >= 6 * MiB && !url) { url = u.url; u.abort().then(resolve, reject) } },
      onError: reject,
      onSuccess: () => reject(new Failed('finished before it was aborted'))
    })
    u.start()
  })
  const head = await fetch(url, { method: 'HEAD', headers: { ...AUTH, 'Tus-Resumable': '1.0.0' } })
  equal(head.headers.get('upload-offset'), String(6 * MiB), 'offset after the abort')
  let resumedFrom = null
  await upload(data, { uploadUrl: url, metadata: meta, onProgress: (sent) => { if (resumedFrom === null) resumedFrom = sent } })
  ensure(resumedFrom >= 6 * MiB, `resumed from ${resumedFrom}`)
  ensure((await download(id, 'resumed.bin')).equals(data), 'downloaded bytes differ')
})
check('terminate: tus.Upload.terminate deletes an unfinished upload', async () => {
  const id = await bucket()
  let url = null
  await new Promise((resolve, reject) => {
    const u = new tus.Upload(payload(12 * MiB), {
      endpoint: ENDPOINT, headers: AUTH, chunkSize: 6 * MiB, retryDelays: [], metadata: { bucketName: id, objectName: 't.bin' },
      onChunkComplete: () => { if (!url) { url = u.url; u.abort().then(resolve, reject) } },
      onError: reject
    })
    u.start()
  })
  await tus.Upload.terminate(url, { headers: AUTH, retryDelays: [] })
  const head = await fetch(url, { method: 'HEAD', headers: { ...AUTH, 'Tus-Resumable': '1.0.0' } })
  equal(head.status, 404, 'HEAD after termination')
})

// --- rules ------------------------------------------------------------------------------

check('errors: an existing object without x-upsert fails with 409', async () => {
  const id = await bucket()
  await upload(payload(10), { metadata: { bucketName: id, objectName: 'dup.bin' } })
  const e = await rejected(upload(payload(10), { metadata: { bucketName: id, objectName: 'dup.bin' } }), 'duplicate')
  equal(statusOf(e), 409, 'status')
  await upload(payload(20), { headers: { ...AUTH, 'x-upsert': 'true' }, metadata: { bucketName: id, objectName: 'dup.bin' } })
  equal((await download(id, 'dup.bin')).length, 20, 'upserted size')
})
check('errors: the bucket size limit gives 413 Maximum size exceeded', async () => {
  const id = await bucket({ file_size_limit: 1024 * 1024 })
  const e = await rejected(upload(payload(2 * MiB), { metadata: { bucketName: id, objectName: 'big.bin' } }), 'too large')
  equal([statusOf(e), bodyOf(e)], [413, 'Maximum size exceeded'], 'status and body')
})
check('errors: a refused mime type gives 415', async () => {
  const id = await bucket({ allowed_mime_types: ['image/*'] })
  const e = await rejected(upload(payload(10), { metadata: { bucketName: id, objectName: 'x.txt', contentType: 'text/plain' } }), 'mime')
  equal(statusOf(e), 415, 'status')
})
check('errors: a missing bucket gives 404 Bucket not found', async () => {
  const e = await rejected(upload(payload(10), { metadata: { bucketName: unique('none'), objectName: 'x' } }), 'no bucket')
  equal([statusOf(e), bodyOf(e)], [404, 'Bucket not found'], 'status and body')
})

// --- signed upload URLs -------------------------------------------------------------------

check('signed: a createSignedUploadUrl token as x-signature on /upload/resumable/sign', async () => {
  const id = await bucket()
  const r = await rest('POST', `object/upload/sign/${id}/signed.bin`, {})
  ensure(r.ok, `sign: ${r.status}`)
  const { token } = await r.json()
  const data = payload(7 * MiB, 6)
  await upload(data, {
    endpoint: ENDPOINT + '/sign',
    headers: { 'x-signature': token },
    metadata: { bucketName: id, objectName: 'signed.bin', contentType: 'application/octet-stream' }
  })
  ensure((await download(id, 'signed.bin')).equals(data), 'downloaded bytes differ')
})

await run()
