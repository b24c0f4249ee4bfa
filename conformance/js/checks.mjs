// supabase-js storage client (@supabase/storage-js) checks for the conformance suite.
// Configuration comes from the environment (CF_REST_URL, CF_SERVICE_JWT, CF_PAGED_BUCKET,
// CF_PAGED_COUNT, CF_IMAGE_PATH, CF_ONLY); each check prints one JSON line {name, ok, message}.
import { readFileSync } from 'node:fs'
import { StorageClient } from '@supabase/storage-js'
import { createClient } from '@supabase/supabase-js'
import { Failed, ensure, suite } from './harness.mjs'

const REST_URL = process.env.CF_REST_URL
const JWT = process.env.CF_SERVICE_JWT
const PAGED_BUCKET = process.env.CF_PAGED_BUCKET || ''
const PAGED_COUNT = Number(process.env.CF_PAGED_COUNT || '0')
const UNICODE_KEY = 'unicode/Grüße aus Köln — 日本語ファイル ✓.txt'
const DEEP_KEY = Array.from({ length: 20 }, (_, i) => `d${i + 1}`).join('/') + '/leaf.bin'

const storage = new StorageClient(REST_URL, { Authorization: `Bearer ${JWT}`, apikey: JWT })
const { check, cleanup, run } = suite(90000)

const canonical = (v) => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x))
  ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x)
const equal = (actual, expected, what) => {
  const a = canonical(actual); const e = canonical(expected)
  if (a !== e) throw new Failed(`${what}: expected ${e?.slice(0, 300)}, got ${a?.slice(0, 300)}`)
}
const ok = ({ data, error }, what) => {
  if (error) throw new Failed(`${what}: ${error.name} ${error.statusCode ?? ''} ${error.message}`)
  return data
}
const fails = ({ data, error }, statusCode, what) => {
  ensure(error, `${what}: expected an error, got ${JSON.stringify(data)?.slice(0, 200)}`)
  equal(String(error.statusCode), statusCode, `${what}: error statusCode`)
  ensure(error.message, `${what}: error has a message`)
  return error
}
const unique = (hint) => `cf-js${hint}-${Math.random().toString(16).slice(2, 12)}`

async function removeBucket (id) {
  const files = storage.from(id)
  for (let i = 0; i < 50; i++) {
    const { data } = await files.listV2({ limit: 1000 })
    const names = (data?.objects || []).map((o) => o.name)
    if (!names.length) break
    for (let j = 0; j < names.length; j += 500) await files.remove(names.slice(j, j + 500))
  }
  await storage.deleteBucket(id)
}

async function bucket (options = undefined) {
  const id = unique('')
  equal(ok(await storage.createBucket(id, options), 'createBucket'), { name: id }, 'createBucket data')
  cleanup(() => removeBucket(id))
  return id
}

const text = async (blob) => Buffer.from(await blob.arrayBuffer())
const download = async (id, path, options) => text(ok(await storage.from(id).download(path, options), `download ${path}`))
function payload (size, seed) {
  const out = Buffer.alloc(size)
  let x = 2166136261 ^ seed.length
  for (let i = 0; i < size; i++) { x = (x * 16777619 + i) >>> 0; out[i] = x & 0xff }
  return out
}

// --- buckets ----------------------------------------------------------------------------

check('buckets: createBucket then getBucket returns it, private by default', async () => {
  const id = await bucket()
  const b = ok(await storage.getBucket(id), 'getBucket')
  equal([b.id, b.name, b.public], [id, id, false], 'id, name, public')
})
check('buckets: listBuckets includes a new bucket', async () => {
  const id = await bucket()
  ensure(ok(await storage.listBuckets(), 'listBuckets').some((b) => b.id === id), 'bucket listed')
})
check('buckets: a public bucket reports public=true', async () => {
  const id = await bucket({ public: true })
  equal(ok(await storage.getBucket(id), 'getBucket').public, true, 'public')
})
check('buckets: updateBucket changes public, size limit and mime types', async () => {
  const id = await bucket()
  ok(await storage.updateBucket(id, { public: true, fileSizeLimit: 2000, allowedMimeTypes: ['image/png'] }), 'update')
  const b = ok(await storage.getBucket(id), 'getBucket')
  equal([b.public, b.file_size_limit, b.allowed_mime_types], [true, 2000, ['image/png']], 'bucket')
})
check('buckets: fileSizeLimit given as a string ("1MB") is stored in bytes', async () => {
  const id = await bucket({ public: false, fileSizeLimit: '1MB' })
  equal(ok(await storage.getBucket(id), 'getBucket').file_size_limit, 1000000, 'file_size_limit')
})
check('buckets: creating an existing bucket fails with statusCode 409', async () => {
  const id = await bucket()
  fails(await storage.createBucket(id), '409', 'createBucket twice')
})
check('buckets: getBucket of a missing bucket fails with statusCode 404', async () => {
  fails(await storage.getBucket(unique('missing')), '404', 'getBucket')
})
check('buckets: deleteBucket of a non-empty bucket fails with statusCode 409', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('k.txt', 'x'), 'upload')
  fails(await storage.deleteBucket(id), '409', 'deleteBucket')
})
check('buckets: emptyBucket then deleteBucket removes it', async () => {
  const id = unique('')
  ok(await storage.createBucket(id), 'createBucket')
  for (const k of ['a', 'b/c']) ok(await storage.from(id).upload(k, 'x'), 'upload')
  ensure(ok(await storage.emptyBucket(id), 'emptyBucket').message, 'emptyBucket message')
  for (let i = 0; i < 40; i++) {
    if (!ok(await storage.from(id).list(), 'list').length) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  ensure(ok(await storage.deleteBucket(id), 'deleteBucket').message, 'deleteBucket message')
  fails(await storage.getBucket(id), '404', 'getBucket after delete')
})
check('buckets: fileSizeLimit rejects a larger upload with statusCode 413', async () => {
  const id = await bucket({ public: false, fileSizeLimit: 10 })
  fails(await storage.from(id).upload('big', 'x'.repeat(20)), '413', 'upload')
  ok(await storage.from(id).upload('fits', 'x'.repeat(10)), 'upload at the limit')
})
check('buckets: allowedMimeTypes rejects other types with statusCode 415', async () => {
  const id = await bucket({ public: false, allowedMimeTypes: ['image/*'] })
  fails(await storage.from(id).upload('a.txt', 'x', { contentType: 'text/plain' }), '415', 'upload text')
  ok(await storage.from(id).upload('a.png', 'x', { contentType: 'image/png' }), 'upload png')
})

// --- uploads ----------------------------------------------------------------------------

async function roundTrip (path, body) {
  const id = await bucket()
  const up = ok(await storage.from(id).upload(path, body), 'upload')
  equal(up.fullPath, `${id}/${path}`, 'fullPath')
  ensure(up.id, 'upload returns an id')
  ensure((await download(id, path)).equals(Buffer.from(body)), `bytes of ${path}`)
}
check('uploads: small Buffer round-trips', () => roundTrip('hello.txt', Buffer.from('hello from storage-js')))
check('uploads: empty file round-trips', () => roundTrip('empty.txt', Buffer.alloc(0)))
check('uploads: unicode key round-trips', () => roundTrip(UNICODE_KEY, Buffer.from('unicode')))
check('uploads: 20-level deep key round-trips', () => roundTrip(DEEP_KEY, Buffer.from('deep')))
check('uploads: 8 MiB Buffer round-trips', () => roundTrip('big.bin', payload(8 * 1024 * 1024, 'js')), 180000)
check('uploads: a Blob is sent as multipart form data and keeps its content type', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('b.json', new Blob(['{"a":1}'], { type: 'application/json' }),
    { contentType: 'application/json' }), 'upload Blob')
  equal((await download(id, 'b.json')).toString(), '{"a":1}', 'content')
  equal(ok(await storage.from(id).info('b.json'), 'info').contentType, 'application/json', 'contentType')
})
check('uploads: uploading an existing path without upsert fails with statusCode 409', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('d.txt', 'one'), 'upload')
  fails(await storage.from(id).upload('d.txt', 'two'), '409', 'second upload')
})
check('uploads: upsert overwrites an existing path', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('u.txt', 'one'), 'upload')
  ok(await storage.from(id).upload('u.txt', 'two', { upsert: true }), 'upsert')
  equal((await download(id, 'u.txt')).toString(), 'two', 'content')
})
check('uploads: update replaces the content', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('u.txt', 'one'), 'upload')
  ok(await storage.from(id).update('u.txt', 'updated'), 'update')
  equal((await download(id, 'u.txt')).toString(), 'updated', 'content')
})

// --- metadata and downloads -------------------------------------------------------------

check('metadata: info reports size, content type and cache control', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('i.csv', 'a,b', { contentType: 'text/csv', cacheControl: '90' }), 'upload')
  const info = ok(await storage.from(id).info('i.csv'), 'info')
  equal([info.size, info.contentType, info.cacheControl], [3, 'text/csv', 'max-age=90'], 'size, type, cache')
  ensure(info.etag && info.lastModified, 'etag and lastModified present')
})
check('metadata: user metadata round-trips through info', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('m.txt', 'x', { metadata: { author: 'js', count: 2 } }), 'upload')
  equal(ok(await storage.from(id).info('m.txt'), 'info').metadata, { author: 'js', count: 2 }, 'metadata')
})
check('downloads: the downloaded Blob carries the stored content type', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('t.json', '{}', { contentType: 'application/json' }), 'upload')
  equal(ok(await storage.from(id).download('t.json'), 'download').type, 'application/json', 'Blob type')
})
check('downloads: exists is true for a file and false for a missing one', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('e.txt', 'x'), 'upload')
  equal([ok(await storage.from(id).exists('e.txt'), 'exists'), (await storage.from(id).exists('no.txt')).data],
    [true, false], 'exists')
})
check('downloads: downloading a missing file returns a StorageApiError', async () => {
  const id = await bucket()
  const { error } = await storage.from(id).download('missing.txt')
  ensure(error && error.name === 'StorageApiError', `error ${error?.name}`)
  ensure([400, 404].includes(error.status), `HTTP status ${error.status}`)
})

// --- listing ----------------------------------------------------------------------------

async function tree () {
  const id = await bucket()
  for (const k of ['a.txt', 'Beta.txt', 'dir/b.txt', 'dir/c.txt', 'dir/sub/d.txt']) {
    ok(await storage.from(id).upload(k, k), `upload ${k}`)
  }
  return id
}
check('listing: list(folder) shows one level with relative names; folders have id null', async () => {
  const id = await tree()
  const entries = ok(await storage.from(id).list('dir'), 'list')
  equal(entries.map((e) => e.name).sort(), ['b.txt', 'c.txt', 'sub'], 'names')
  equal(entries.filter((e) => e.name === 'sub').map((e) => e.id), [null], 'folder id')
})
check('listing: list search matches by prefix, case-insensitively', async () => {
  const id = await tree()
  equal(ok(await storage.from(id).list('', { search: 'BE' }), 'list').map((e) => e.name), ['Beta.txt'], 'names')
})
check('listing: list with limit/offset pages through >1000 files', async () => {
  ensure(PAGED_BUCKET, 'no paged bucket was prepared')
  const seen = []
  for (let offset = 0; offset < PAGED_COUNT + 500; offset += 500) {
    const page = ok(await storage.from(PAGED_BUCKET).list('p', { limit: 500, offset }), 'list')
    seen.push(...page.map((e) => e.name))
    if (page.length < 500) break
  }
  equal(seen.length, PAGED_COUNT, 'files seen')
  equal(new Set(seen).size, PAGED_COUNT, 'distinct files')
}, 240000)
check('listing: listV2 with_delimiter returns folders and objects', async () => {
  const id = await tree()
  const res = ok(await storage.from(id).listV2({ prefix: 'dir/', with_delimiter: true }), 'listV2')
  equal(res.folders.map((f) => f.name), ['dir/sub/'], 'folders')
  equal(res.objects.map((o) => o.name), ['dir/b.txt', 'dir/c.txt'], 'objects')
})
check('listing: listV2 cursor pages through >1000 files', async () => {
  ensure(PAGED_BUCKET, 'no paged bucket was prepared')
  const seen = []
  let opts = { prefix: 'p/', limit: 1000 }
  for (let i = 0; i < 5; i++) {
    const res = ok(await storage.from(PAGED_BUCKET).listV2(opts), 'listV2')
    seen.push(...res.objects.map((o) => o.name))
    if (!res.hasNext) break
    opts = { ...opts, cursor: res.nextCursor }
  }
  equal(seen.length, PAGED_COUNT, 'files seen')
}, 240000)

// --- copy, move, delete -----------------------------------------------------------------

check('copy: copy returns the destination path and duplicates the file', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('src.txt', 'copy me'), 'upload')
  equal(ok(await storage.from(id).copy('src.txt', 'dst/copy.txt'), 'copy').path, `${id}/dst/copy.txt`, 'path')
  equal((await download(id, 'dst/copy.txt')).toString(), 'copy me', 'copy')
  equal((await download(id, 'src.txt')).toString(), 'copy me', 'source kept')
})
check('copy: copy into another bucket (destinationBucket)', async () => {
  const a = await bucket(); const b = await bucket()
  ok(await storage.from(a).upload('src.txt', 'across'), 'upload')
  ok(await storage.from(a).copy('src.txt', 'dst.txt', { destinationBucket: b }), 'copy')
  equal((await download(b, 'dst.txt')).toString(), 'across', 'copy')
})
check('copy: copying a missing file fails with statusCode 404', async () => {
  const id = await bucket()
  fails(await storage.from(id).copy('none.txt', 'x.txt'), '404', 'copy')
})
check('move: move renames a file (source gone)', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('from.txt', 'moving'), 'upload')
  equal(ok(await storage.from(id).move('from.txt', 'to/here.txt'), 'move').message, 'Successfully moved', 'message')
  equal((await download(id, 'to/here.txt')).toString(), 'moving', 'destination')
  equal((await storage.from(id).exists('from.txt')).data, false, 'source exists')
})
check('move: move into another bucket (destinationBucket)', async () => {
  const a = await bucket(); const b = await bucket()
  ok(await storage.from(a).upload('m.txt', 'moved across'), 'upload')
  ok(await storage.from(a).move('m.txt', 'n.txt', { destinationBucket: b }), 'move')
  equal((await download(b, 'n.txt')).toString(), 'moved across', 'destination')
  equal((await storage.from(a).exists('m.txt')).data, false, 'source exists')
})
check('move: moving onto an existing file fails with statusCode 409', async () => {
  const id = await bucket()
  ok(await storage.from(id).upload('a.txt', 'a'), 'upload a')
  ok(await storage.from(id).upload('b.txt', 'b'), 'upload b')
  fails(await storage.from(id).move('a.txt', 'b.txt'), '409', 'move')
})
check('delete: remove of a batch returns the deleted files, skipping missing ones', async () => {
  const id = await tree()
  const out = ok(await storage.from(id).remove(['a.txt', 'dir/b.txt', 'missing.txt']), 'remove')
  equal(out.map((o) => o.name).sort(), ['a.txt', 'dir/b.txt'], 'deleted')
  equal((await storage.from(id).exists('a.txt')).data, false, 'a.txt exists')
  equal(ok(await storage.from(id).remove(['missing.txt']), 'remove missing'), [], 'nothing deleted')
})

// --- signed and public URLs -------------------------------------------------------------

async function signedBucket (options) {
  const id = await bucket(options)
  ok(await storage.from(id).upload('folder/s.txt', 'signed content', { contentType: 'text/plain' }), 'upload')
  return id
}
check('signed URLs: createSignedUrl downloads without credentials', async () => {
  const id = await signedBucket()
  const { signedUrl } = ok(await storage.from(id).createSignedUrl('folder/s.txt', 60), 'sign')
  const r = await fetch(signedUrl)
  equal([r.status, await r.text()], [200, 'signed content'], 'GET')
})
check('signed URLs: download option makes the response an attachment', async () => {
  const id = await signedBucket()
  const { signedUrl } = ok(await storage.from(id).createSignedUrl('folder/s.txt', 60, { download: true }), 'sign')
  const r = await fetch(signedUrl)
  equal(r.status, 200, 'status')
  ensure((r.headers.get('content-disposition') || '').startsWith('attachment'), 'content-disposition attachment')
})
check('signed URLs: an expired signed URL is refused', async () => {
  const id = await signedBucket()
  const { signedUrl } = ok(await storage.from(id).createSignedUrl('folder/s.txt', 1), 'sign')
  await new Promise((resolve) => setTimeout(resolve, 2500))
  ensure((await fetch(signedUrl)).status >= 400, 'expired URL refused')
})
check('signed URLs: createSignedUrls signs many paths and flags missing ones', async () => {
  const id = await signedBucket()
  const out = ok(await storage.from(id).createSignedUrls(['folder/s.txt', 'none.txt'], 60), 'sign many')
  equal(out.map((o) => o.path), ['folder/s.txt', 'none.txt'], 'paths')
  equal(await (await fetch(out[0].signedUrl)).text(), 'signed content', 'first URL')
  ensure(out[1].error && !out[1].signedUrl, 'missing path flagged')
})
check('signed URLs: createSignedUploadUrl + uploadToSignedUrl stores the file', async () => {
  const id = await bucket()
  const { token, path } = ok(await storage.from(id).createSignedUploadUrl('up/file.txt'), 'sign upload')
  ok(await storage.from(id).uploadToSignedUrl(path, token, Buffer.from('via token')), 'upload to signed URL')
  equal((await download(id, 'up/file.txt')).toString(), 'via token', 'content')
})
check('signed URLs: getPublicUrl serves a public bucket anonymously', async () => {
  const id = await signedBucket({ public: true })
  const r = await fetch(storage.from(id).getPublicUrl('folder/s.txt').data.publicUrl)
  equal([r.status, await r.text()], [200, 'signed content'], 'GET')
})
check('signed URLs: getPublicUrl of a private bucket is refused', async () => {
  const id = await signedBucket()
  ensure((await fetch(storage.from(id).getPublicUrl('folder/s.txt').data.publicUrl)).status >= 400, 'refused')
})

// --- render (image transformations) -------------------------------------------------------

// (width, height) from a JPEG's start-of-frame, a PNG's IHDR or a WebP's VP8/VP8L/VP8X header
function imageSize (buf) {
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    for (let i = 2; i + 9 < buf.length;) {
      if (buf[i] !== 0xff) { i++; continue }
      const marker = buf[i + 1]
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return [buf.readUInt16BE(i + 7), buf.readUInt16BE(i + 5)]
      }
      i += 2 + buf.readUInt16BE(i + 2)
    }
  } else if (buf.toString('latin1', 1, 4) === 'PNG') {
    return [buf.readUInt32BE(16), buf.readUInt32BE(20)]
  } else if (buf.toString('latin1', 8, 12) === 'WEBP') {
    const kind = buf.toString('latin1', 12, 16)
    if (kind === 'VP8 ') return [buf.readUInt16LE(26) & 0x3fff, buf.readUInt16LE(28) & 0x3fff]
    if (kind === 'VP8L') { const b = buf.readUInt32LE(21); return [(b & 0x3fff) + 1, ((b >> 14) & 0x3fff) + 1] }
    if (kind === 'VP8X') return [buf.readUIntLE(24, 3) + 1, buf.readUIntLE(27, 3) + 1]
  }
  throw new Failed(`not a JPEG, PNG or WebP image (${buf.length} bytes)`)
}
async function imageBucket (options) {
  ensure(process.env.CF_IMAGE_PATH, 'CF_IMAGE_PATH (the sample JPEG) is not set')
  const source = readFileSync(process.env.CF_IMAGE_PATH)
  const id = await bucket(options)
  ok(await storage.from(id).upload('pics/photo.jpg', source, { contentType: 'image/jpeg' }), 'upload')
  return [id, source]
}
check('render: download with transform returns a smaller image of the asked width', async () => {
  const [id, source] = await imageBucket()
  const small = await download(id, 'pics/photo.jpg', { transform: { width: 200 } })
  equal(imageSize(small), [200, 150], 'rendered size')
  ensure(small.length < source.length, `rendered ${small.length} bytes, source ${source.length}`)
  const fitted = await download(id, 'pics/photo.jpg', { transform: { width: 100, height: 100, resize: 'contain' } })
  equal(imageSize(fitted), [100, 75], 'contain 100x100')
})
check('render: createSignedUrl with transform serves a transformed image', async () => {
  const [id] = await imageBucket()
  const { signedUrl } = ok(await storage.from(id).createSignedUrl('pics/photo.jpg', 60, { transform: { width: 100 } }), 'sign')
  ensure(signedUrl.includes('/render/image/sign/'), `signed URL ${signedUrl}`)
  const r = await fetch(signedUrl)
  equal(r.status, 200, 'GET signed URL')
  equal(imageSize(Buffer.from(await r.arrayBuffer())), [100, 75], 'rendered size')
})
check('render: getPublicUrl with transform renders from a public bucket', async () => {
  const [id] = await imageBucket({ public: true })
  const { publicUrl } = storage.from(id).getPublicUrl('pics/photo.jpg', { transform: { width: 80, quality: 50 } }).data
  const r = await fetch(publicUrl, { headers: { Accept: 'image/webp,*/*' } })
  equal([r.status, r.headers.get('content-type')], [200, 'image/webp'], 'GET public render URL')
  equal(imageSize(Buffer.from(await r.arrayBuffer())), [80, 60], 'rendered size')
})

// --- errors -----------------------------------------------------------------------------

check('errors: an invalid JWT gives a StorageApiError with statusCode 403', async () => {
  const bad = new StorageClient(REST_URL, { Authorization: 'Bearer not-a-jwt', apikey: 'not-a-jwt' })
  const { error } = await bad.listBuckets()
  ensure(error && error.name === 'StorageApiError', `error ${error?.name}`)
  equal(String(error.statusCode), '403', 'statusCode')
})
check('errors: throwOnError() makes failures throw', async () => {
  let thrown = null
  try { await new StorageClient(REST_URL, { Authorization: `Bearer ${JWT}` }).throwOnError().getBucket(unique('x')) } catch (e) { thrown = e }
  ensure(thrown && thrown.name === 'StorageApiError', `thrown ${thrown?.name}`)
})

// --- supabase-js itself: createClient(url, key).storage, as web apps use it -----------------

check('supabase-js: createClient(url, key).storage works against the server, under /storage/v1', async () => {
  // Node 20 has no WebSocket, which supabase-js's realtime client wants at creation; these
  // checks use storage only, so realtime gets a transport that is never opened
  const client = createClient(REST_URL.replace(/\/+$/, ''), JWT,
    { realtime: { transport: globalThis.WebSocket ?? class NoRealtime {} } })
  const id = await bucket()
  ok(await client.storage.from(id).upload('via/createClient.txt', Buffer.from('hello from createClient'),
    { contentType: 'text/plain' }), 'upload')
  const got = ok(await client.storage.from(id).download('via/createClient.txt'), 'download')
  equal((await text(got)).toString(), 'hello from createClient', 'downloaded bytes')
  const buckets = ok(await client.storage.listBuckets(), 'listBuckets')
  ensure(buckets.some((b) => b.id === id), 'listBuckets shows the new bucket')
  const listed = ok(await client.storage.from(id).list('via'), 'list')
  equal(listed.map((o) => o.name), ['createClient.txt'], 'list names')
})

await run()
