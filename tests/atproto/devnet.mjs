// Test infrastructure, not part of Kith: starts a real AT Protocol network on loopback through
// @atproto/dev-env, prints one JSON line describing it on stdout, and stops it cleanly on SIGTERM, SIGINT or
// when stdin closes (so a test runner that dies takes the network with it).
//
// - Default: TestNetworkNoAppView -- a PLC directory (@did-plc/server, in memory) and the reference PDS
//   (@atproto/pds, SQLite files in a temporary folder).
// - --appview: TestNetwork -- the same plus the Bluesky App View (@atproto/bsky), Ozone (moderation) and
//   bsync, which need PostgreSQL and Redis; this script starts a private instance of each (Debian's
//   packages: postgresql, redis-server) on loopback and removes them on stop.
//
// Besides the services, a control endpoint (the "control" URL) answers POST /process-all once everything
// written so far has been processed (the PDS's background queue and, with the App View, its indexing), so
// that tests wait for a state instead of sleeping.
//
// Run it through scripts/atproto-devnet (which installs the pinned packages and a Node.js 22 binary into
// .cache/atproto/ and puts that Node first on PATH); by hand:
//   node devnet.mjs --modules .cache/atproto/node_modules [--appview] [--json FILE] [--pds-port N] [--plc-port N]
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import fs from 'node:fs/promises'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    modules: { type: 'string' },
    appview: { type: 'boolean', default: false },
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
const devEnv = await load('@atproto/dev-env')
// Read as files: packages that declare "exports" do not export their package.json.
const version = async (name) => {
  try {
    return JSON.parse(await fs.readFile(path.join(modulesDir, name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

// The PDS keeps its SQLite files and blobs under os.tmpdir(); give this run its own folder (PostgreSQL and
// Redis too) and remove it on stop, so that repeated runs leave nothing behind.
const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'kith-atproto-'))
process.env.TMPDIR = dataRoot

const children = [] // PostgreSQL and Redis, stopped after the network
let network
let control
let stopping = false

async function stop(reason, failed = false) {
  if (stopping) return
  stopping = true
  console.error(`devnet: stopping (${reason})`)
  // Closing waits for open connections (a firehose subscriber, keep-alive sockets); do not hang forever.
  const timer = setTimeout(() => {
    console.error('devnet: the network did not close within 20 s; exiting anyway')
    for (const child of children) child.proc.kill('SIGKILL')
    rmSync(dataRoot, { recursive: true, force: true })
    process.exit(1)
  }, 20_000)
  let code = failed ? 1 : 0
  try {
    control?.closeAllConnections()
    control?.close()
    await network?.close()
  } catch (err) {
    console.error(`devnet: error while closing: ${err?.stack ?? err}`)
    code = 1
  }
  for (const child of children.reverse()) await child.stop()
  await fs.rm(dataRoot, { recursive: true, force: true })
  clearTimeout(timer)
  process.exit(code)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
process.on('exit', () => children.forEach((c) => c.proc.exitCode === null && c.proc.kill('SIGKILL')))

async function fail(message) {
  console.error(`devnet: ${message}`)
  await stop('failed to start', true)
}

// ----- PostgreSQL and Redis for the App View ------------------------------------------------------------

async function freePort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, cmd))) return path.join(dir, cmd)
  }
  return null
}

function postgresBin() {
  // Debian keeps the server programs off PATH, one folder per major version; take the newest.
  const base = '/usr/lib/postgresql'
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)) : []
  for (const v of versions.sort((a, b) => b - a)) {
    if (existsSync(path.join(base, v, 'bin', 'postgres'))) return path.join(base, v, 'bin')
  }
  const initdb = which('initdb')
  return initdb ? path.dirname(initdb) : null
}

// PostgreSQL refuses to run as root: as root, run it as the "postgres" user (Debian's package makes one) or
// nobody. setpriv also gives each child a parent-death signal, so that a killed devnet leaves no server.
function asChild(argv, { dropRoot }) {
  const prefix = ['setpriv', '--pdeathsig', 'KILL']
  if (dropRoot && process.getuid() === 0) {
    const user = spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody'
    prefix.push('--reuid', user, '--regid', user, '--init-groups')
    return { argv: [...prefix, '--', ...argv], user }
  }
  return { argv: [...prefix, '--', ...argv], user: null }
}

async function startChild(name, argv, logFile, { dropRoot = false, cwd = dataRoot } = {}) {
  const log = await fs.open(logFile, 'a')
  const { argv: full } = asChild(argv, { dropRoot })
  const proc = spawn(full[0], full.slice(1), { stdio: ['ignore', log.fd, log.fd], cwd })
  await log.close()
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  const child = {
    name,
    proc,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill(name === 'postgres' ? 'SIGINT' : 'SIGTERM') // SIGINT: PostgreSQL's fast shutdown
      if ((await Promise.race([exited, sleep(10_000).then(() => 'late')])) === 'late') proc.kill('SIGKILL')
    },
  }
  children.push(child)
  return child
}

async function logTail(file) {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').slice(-15).join('\n')
  } catch {
    return ''
  }
}

async function waitUntil(child, logFile, check, what) {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.proc.exitCode !== null) {
      throw new Error(`${what} exited with status ${child.proc.exitCode}:\n${await logTail(logFile)}`)
    }
    if (await check()) return
    await sleep(100)
  }
  throw new Error(`${what} did not answer within 30 s:\n${await logTail(logFile)}`)
}

async function startPostgres() {
  const bin = postgresBin()
  if (!bin || !which('setpriv')) {
    throw new Error('the App View needs PostgreSQL: run scripts/atproto-devnet install --appview (as root)')
  }
  const dir = path.join(dataRoot, 'postgres')
  const logFile = path.join(dataRoot, 'postgres.log')
  await fs.mkdir(dir, { mode: 0o700 })
  const { user } = asChild([], { dropRoot: true })
  if (user) {
    await fs.chmod(dataRoot, 0o711) // let the server's user reach its own folder, and only that
    spawnSync('chown', ['-R', `${user}:`, dir])
  }
  const initdb = asChild(
    [path.join(bin, 'initdb'), '-D', dir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'],
    { dropRoot: true },
  ).argv
  const made = spawnSync(initdb[0], initdb.slice(1), { encoding: 'utf8', cwd: dir })
  if (made.status !== 0) throw new Error(`initdb failed:\n${made.stdout}${made.stderr}`)
  const port = await freePort()
  // A throw-away cluster: durability settings off, as PostgreSQL's own docs suggest for test data.
  const child = await startChild(
    'postgres',
    [path.join(bin, 'postgres'), '-D', dir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
     '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
    logFile,
    { dropRoot: true, cwd: dir },
  )
  const isReady = path.join(bin, 'pg_isready')
  await waitUntil(child, logFile, async () =>
    spawnSync(isReady, ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0, 'PostgreSQL')
  return `postgresql://postgres@127.0.0.1:${port}/postgres`
}

async function startRedis() {
  const server = which('redis-server')
  if (!server || !which('setpriv')) {
    throw new Error('the App View needs Redis: run scripts/atproto-devnet install --appview (as root)')
  }
  const dir = path.join(dataRoot, 'redis')
  const logFile = path.join(dataRoot, 'redis.log')
  await fs.mkdir(dir)
  const port = await freePort()
  const child = await startChild(
    'redis',
    [server, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    logFile,
  )
  const pong = () =>
    new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1')
      sock.once('error', () => resolve(false))
      sock.once('connect', () => sock.write('PING\r\n'))
      sock.once('data', (data) => {
        sock.destroy()
        resolve(data.toString().startsWith('+PONG'))
      })
    })
  await waitUntil(child, logFile, pong, 'Redis')
  return `127.0.0.1:${port}`
}

// ----- the network ----------------------------------------------------------------------------------------

const started = Date.now()
const pdsParams = args['pds-port'] ? { port: Number(args['pds-port']) } : {}
const plcParams = args['plc-port'] ? { port: Number(args['plc-port']) } : {}
try {
  if (args.appview) {
    const [dbPostgresUrl, redisHost] = await Promise.all([startPostgres(), startRedis()])
    process.env.REDIS_HOST = redisHost // dev-env's TestNetwork reads it from the environment only
    network = await devEnv.TestNetwork.create({
      dbPostgresUrl,
      dbPostgresSchema: 'kith_devnet',
      pds: pdsParams,
      plc: plcParams,
    })
  } else {
    network = await devEnv.TestNetworkNoAppView.create({ pds: pdsParams, plc: plcParams })
  }
} catch (err) {
  await fail(`the network did not start: ${err?.stack ?? err}`)
}
process.stdin.on('end', () => stop('stdin closed'))
process.stdin.on('error', () => stop('stdin error'))
process.stdin.resume()

control = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/process-all') {
    try {
      await network.processAll()
      res.writeHead(204).end()
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err?.stack ?? err))
    }
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('POST /process-all is the only call here\n')
  }
})
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve))

// "Started" is not "answering": ask each service before saying it is ready.
async function answers(url) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`${url} did not answer`)
}
try {
  await answers(`${network.pds.url}/xrpc/_health`)
  await answers(`${network.plc.url}/_health`)
  if (args.appview) await answers(`${network.bsky.url}/xrpc/_health`)
} catch (err) {
  await fail(err.message)
}

const pdsUrl = network.pds.url
const cfg = network.pds.ctx.cfg
const info = {
  pds: pdsUrl,
  plc: network.plc.url,
  firehose: `${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`,
  relay: null, // dev-env has no relay; one PDS's own stream is the firehose here
  appview: args.appview ? network.bsky.url : null,
  appview_did: args.appview ? network.bsky.ctx.cfg.serverDid : null,
  ozone: args.appview ? network.ozone.url : null,
  control: `http://127.0.0.1:${control.address().port}`,
  pds_did: cfg.service.did,
  handle_domains: cfg.identity.serviceHandleDomains,
  admin_password: devEnv.ADMIN_PASSWORD,
  pid: process.pid,
  data_dir: dataRoot,
  startup_ms: Date.now() - started,
  rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
  versions: {
    node: process.version,
    '@atproto/dev-env': await version('@atproto/dev-env'),
    '@atproto/pds': await version('@atproto/pds'),
    '@did-plc/server': await version('@did-plc/server'),
    ...(args.appview ? { '@atproto/bsky': await version('@atproto/bsky') } : {}),
  },
}
const line = JSON.stringify(info)
if (args.json) {
  // Written whole, then renamed: a reader never sees half a file.
  await fs.writeFile(`${args.json}.tmp`, line + '\n')
  await fs.rename(`${args.json}.tmp`, args.json)
}
process.stdout.write(line + '\n')
