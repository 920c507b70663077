// Checks I/O Events deliveries with Adobe's own verifier:
// @adobe/aio-lib-events `verifyDigitalSignatureForEvent` (src/index.js),
// which checks `recipient_client_id` (signatureUtils.js, isTargetRecipient)
// and then `crypto.verify('rsa-sha256', ...)` with the PEM keys
// (signatureUtils.js, verifySignature / cryptoVerify).
//
// The library takes its public keys from aio-lib-state's cache, keyed by
// the key's file name, before it would fetch
// https://static.adobeioevents.com/<path> (signatureUtils.js,
// fetchPubKeyFromCacheOrApi). This script answers that cache with the keys
// the test generated, and replaces node-fetch with a function that fails:
// no network is used, and a key the test did not give is an error.
//
// Input (stdin, JSON): {"keys": {"pub-key-<uuid>.pem": "<PEM>"}, "cases":
// [{"payload": "<raw body>", "recipient": "...", "options": {digiSignature1,
// digiSignature2, publicKeyPath1, publicKeyPath2}}]}. Output: one JSON line,
// {"results": [true|false, ...]}. Library directory: AIO_LIB_EVENTS_DIR
// (an npm prefix holding node_modules/@adobe/aio-lib-events).
'use strict'
const Module = require('module')
const path = require('path')

const dir = process.env.AIO_LIB_EVENTS_DIR
if (!dir) {
  console.error('AIO_LIB_EVENTS_DIR is not set')
  process.exit(2)
}

function stub (request, from, exports) {
  const file = require.resolve(request, { paths: [from] })
  const m = new Module(file)
  m.filename = file
  m.loaded = true
  m.exports = exports
  require.cache[file] = m
}

async function main () {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'))
  const main = require.resolve('@adobe/aio-lib-events', { paths: [dir] })
  const src = path.dirname(main)
  let fetches = 0
  stub('@adobe/aio-lib-state', src, {
    init: async () => ({
      get: async (name) => (input.keys[name] ? { value: input.keys[name] } : undefined),
      put: async () => {}
    })
  })
  stub('node-fetch', src, async (url) => {
    fetches += 1
    throw new Error(`no network in this test: ${url}`)
  })
  const events = require(main)
  const client = await events.init('ORG@AdobeOrg', 'api-key', 'access-token')
  const results = []
  for (const c of input.cases) {
    let ok
    try {
      ok = await client.verifyDigitalSignatureForEvent(c.payload, c.recipient, c.options)
    } catch (e) {
      ok = false
    }
    results.push(ok === true)
  }
  console.log(JSON.stringify({ results, fetches }))
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e))
  process.exit(1)
})
