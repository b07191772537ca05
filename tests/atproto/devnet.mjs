// Test infrastructure, not part of Kith: starts a real AT Protocol network on loopback -- a PLC directory
// (@did-plc/server, in-memory) and the reference PDS (@atproto/pds, SQLite files in a temporary folder) --
// through @atproto/dev-env's TestNetworkNoAppView, prints one JSON line describing it on stdout, and stops it
// cleanly on SIGTERM, SIGINT or when stdin closes (so a test runner that dies takes the network with it).
//
// Run it through scripts/atproto-devnet (which installs the pinned packages and a Node.js 22 binary into
// .cache/atproto/ and puts that Node first on PATH); by hand:
//   node devnet.mjs --modules .cache/atproto/node_modules [--json FILE] [--pds-port N] [--plc-port N]
import fs from 'node:fs/promises'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

const { values: args } = parseArgs({
  options: {
    modules: { type: 'string' },
    json: { type: 'string' },
    'pds-port': { type: 'string' },
    'plc-port': { type: 'string' },
  },
})
if (!args.modules) {
  console.error('devnet: --modules DIR (the node_modules folder scripts/atproto-devnet install made) is required')
  process.exit(2)
}

// The dev-env servers call listen(port) with no host, which binds every interface. A test network has no
// business beyond loopback: give such calls 127.0.0.1. (The services still name themselves
// http://localhost:PORT, as their DID documents do; clients that try ::1 first fall back to 127.0.0.1.)
const originalListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...listenArgs) {
  if (typeof listenArgs[0] === 'number' && typeof listenArgs[1] !== 'string') {
    listenArgs.splice(1, 0, '127.0.0.1')
  }
  return originalListen.apply(this, listenArgs)
}

// The packages live in the install folder, not beside this file: resolve them from there.
const modulesDir = path.resolve(args.modules)
const requireFrom = createRequire(path.join(modulesDir, 'noop.js'))
const load = (name) => import(pathToFileURL(requireFrom.resolve(name)).href)
const { TestNetworkNoAppView, ADMIN_PASSWORD } = await load('@atproto/dev-env')
// Read as files: packages that declare "exports" do not export their package.json.
const version = async (name) => {
  try {
    return JSON.parse(await fs.readFile(path.join(modulesDir, name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

// The PDS keeps its SQLite files and blobs under os.tmpdir(); give this run its own folder and remove it on
// stop, so that repeated runs leave nothing behind.
const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'kith-atproto-'))
process.env.TMPDIR = dataRoot

const started = Date.now()
let network
try {
  network = await TestNetworkNoAppView.create({
    pds: args['pds-port'] ? { port: Number(args['pds-port']) } : {},
    plc: args['plc-port'] ? { port: Number(args['plc-port']) } : {},
  })
} catch (err) {
  console.error(`devnet: the network did not start: ${err?.stack ?? err}`)
  await fs.rm(dataRoot, { recursive: true, force: true })
  process.exit(1)
}

let stopping = false
async function stop(reason, failed = false) {
  if (stopping) return
  stopping = true
  console.error(`devnet: stopping (${reason})`)
  // Closing waits for open connections (a firehose subscriber, keep-alive sockets); do not hang forever.
  const timer = setTimeout(() => {
    console.error('devnet: the network did not close within 15 s; exiting anyway')
    process.exit(1)
  }, 15_000)
  let code = failed ? 1 : 0
  try {
    await network.close()
  } catch (err) {
    console.error(`devnet: error while closing: ${err?.stack ?? err}`)
    code = 1
  }
  await fs.rm(dataRoot, { recursive: true, force: true })
  clearTimeout(timer)
  process.exit(code)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
process.stdin.on('end', () => stop('stdin closed'))
process.stdin.on('error', () => stop('stdin error'))
process.stdin.resume()

// "Started" is not "answering": ask each service before saying it is ready.
async function answers(url) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not answer`)
}
try {
  await answers(`${network.pds.url}/xrpc/_health`)
  await answers(`${network.plc.url}/_health`)
} catch (err) {
  console.error(`devnet: ${err.message}`)
  await stop('not answering', true)
}

const pdsUrl = network.pds.url
const cfg = network.pds.ctx.cfg
const info = {
  pds: pdsUrl,
  plc: network.plc.url,
  firehose: `${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`,
  relay: null,
  appview: null,
  pds_did: cfg.service.did,
  handle_domains: cfg.identity.serviceHandleDomains,
  admin_password: ADMIN_PASSWORD,
  pid: process.pid,
  data_dir: dataRoot,
  startup_ms: Date.now() - started,
  rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
  versions: {
    node: process.version,
    '@atproto/dev-env': await version('@atproto/dev-env'),
    '@atproto/pds': await version('@atproto/pds'),
    '@did-plc/server': await version('@did-plc/server'),
  },
}
const line = JSON.stringify(info)
if (args.json) {
  // Written whole, then renamed: a reader never sees half a file.
  await fs.writeFile(`${args.json}.tmp`, line + '\n')
  await fs.rename(`${args.json}.tmp`, args.json)
}
process.stdout.write(line + '\n')
