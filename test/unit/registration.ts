import t from 'tap'
import { parseArgs } from '../../src/parse-args'
import {
  DEFAULT_BINARY,
  HOOK_ENV,
  entryOptionsFrom,
  insertionIndex,
  isNvidiaHook,
  isOurHook,
  ourCdiHook,
  ourHook,
} from '../../src/registration'

const ctk = (name: string) => ({ path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', name], env: ['NVIDIA_CTK_DEBUG=false'] })
const cdiHook = (name: string) => ({ path: '/usr/local/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', name] })
const other = { path: '/usr/bin/true', args: ['true'] }

t.test('our entry: createContainer, absolute binary, fixed env', async t => {
  t.same(ourHook(), {
    path: DEFAULT_BINARY,
    args: ['nvidia-procfs-hook', 'hook', '--stage', 'createContainer'],
    env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
  })
  t.same(ourHook({ binary: '/opt/nph', logFile: '/var/log/nph.log', stage: 'createRuntime' }), {
    path: '/opt/nph',
    args: ['nvidia-procfs-hook', 'hook', '--stage', 'createRuntime', '--log-file', '/var/log/nph.log'],
    env: HOOK_ENV,
  })
  t.same(ourCdiHook({ binary: '/opt/nph' }), { hookName: 'createContainer', ...ourHook({ binary: '/opt/nph' }) })
  t.not(ourHook().env, HOOK_ENV, 'a copy: callers may edit it')
})

t.test('recognises NVIDIA hooks in both forms', async t => {
  t.ok(isNvidiaHook(ctk('disable-device-node-modification')))
  t.ok(isNvidiaHook(ctk('create-symlinks')))
  t.ok(isNvidiaHook(cdiHook('disable-device-node-modification')))
  t.notOk(isNvidiaHook({ path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'cdi', 'list'] }), 'nvidia-ctk, but not a hook')
  t.notOk(isNvidiaHook({ path: '/usr/bin/nvidia-ctk' }))
  t.notOk(isNvidiaHook({ path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'] }))
  for (const v of [null, 'nvidia-ctk', 3, [], {}, { path: 7 }]) t.notOk(isNvidiaHook(v), JSON.stringify(v))
})

t.test('recognises our own entry whatever its binary', async t => {
  t.ok(isOurHook(ourHook()))
  t.ok(isOurHook({ path: '/opt/x/nvidia-procfs-hook' }))
  t.ok(isOurHook({ path: '/opt/nph', args: ['nvidia-procfs-hook', 'hook'] }))
  t.notOk(isOurHook(other))
  t.notOk(isOurHook(null))
  t.notOk(isOurHook({ path: 1, args: 'nvidia-procfs-hook' }))
})

t.test('insertion point: right before the first NVIDIA hook, unless ours stands before it', async t => {
  t.equal(insertionIndex([ctk('create-symlinks'), ctk('disable-device-node-modification')]), 0)
  t.equal(insertionIndex([other, cdiHook('update-ldcache')]), 1)
  t.equal(insertionIndex([other, ourHook(), ctk('x')]), undefined, 'ours already in front')
  t.equal(insertionIndex([ctk('x'), ourHook()]), 0, 'ours behind NVIDIA\'s does not help')
  t.equal(insertionIndex([other]), undefined, 'no NVIDIA hook')
  t.equal(insertionIndex([]), undefined)
  const mixed = [{ hookName: 'createRuntime', ...ctk('x') }, { hookName: 'createContainer', ...ctk('y') }]
  t.equal(insertionIndex(mixed, h => (h as { hookName: string }).hookName === 'createContainer'), 1, 'other stages skipped')
})

t.test('--binary and --log-file must be absolute', async t => {
  const flags = (argv: string[]) => parseArgs(argv, { string: ['binary', 'log-file'] }, 'x')
  t.same(entryOptionsFrom(flags([]), 'x'), {})
  t.same(entryOptionsFrom(flags(['--binary', '/b', '--log-file', '/l']), 'x'), { binary: '/b', logFile: '/l' })
  t.throws(() => entryOptionsFrom(flags(['--binary', 'b']), 'x'), { message: 'x: --binary must be an absolute path', exitCode: 2 })
  t.throws(() => entryOptionsFrom(flags(['--log-file', 'l']), 'x'), { message: 'x: --log-file must be an absolute path' })
})
