import t from 'tap'
import { parseArgs } from '../../src/parse-args'
import {
  DEFAULT_BINARY,
  HOOK_ENV,
  describeOps,
  entryOptionsFrom,
  isDisableDeviceNodeModification,
  isNvidiaHook,
  isOurHook,
  ourCdiHook,
  ourHook,
  planHooksList,
  unsafeEnv,
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

const DDNM = 'disable-device-node-modification'

t.test('the hook that needs /proc/driver/nvidia, in both forms', async t => {
  t.ok(isDisableDeviceNodeModification(ctk(DDNM)))
  t.ok(isDisableDeviceNodeModification(cdiHook(DDNM)))
  t.notOk(isDisableDeviceNodeModification(ctk('create-symlinks')))
  t.notOk(isDisableDeviceNodeModification({ path: '/usr/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', 'hook', DDNM] }), 'the cdi-hook form has no "hook" word')
  t.notOk(isDisableDeviceNodeModification({ path: '/usr/bin/nvidia-ctk', args: 'x' }))
  t.notOk(isDisableDeviceNodeModification({ path: '/usr/bin/other', args: ['other', 'hook', DDNM] }))
})

t.test('unsafe env: missing, a code-loading variable, or not NAME=VALUE', async t => {
  t.equal(unsafeEnv(ourHook()), undefined)
  t.equal(unsafeEnv({ ...ourHook(), env: [] }), undefined, 'an empty env is safe')
  t.equal(unsafeEnv(other), "no env (it would inherit the container image's, LD_PRELOAD included)")
  t.equal(unsafeEnv(null), "no env (it would inherit the container image's, LD_PRELOAD included)")
  t.equal(unsafeEnv({ env: ['PATH=/usr/bin', 'LD_PRELOAD=/x.so', 'NODE_OPTIONS=--require /x'] }), 'env sets LD_PRELOAD, NODE_OPTIONS')
  t.equal(unsafeEnv({ env: ['OPENSSL_CONF=/x', 'GCONV_PATH=/x'] }), 'env sets OPENSSL_CONF, GCONV_PATH')
  t.equal(unsafeEnv({ env: ['PATH'] }), 'env holds an item that is not NAME=VALUE')
  t.equal(unsafeEnv({ env: [3] }), 'env holds an item that is not NAME=VALUE')
  t.equal(unsafeEnv({ env: ['=x'] }), 'env holds an item that is not NAME=VALUE')
})

t.test('what a hooks list needs', async t => {
  const plan = (hooks: unknown[], removeUnneeded = true) => planHooksList(hooks, { removeUnneeded })
  t.same(plan([ctk('create-symlinks'), ctk(DDNM)]), [{ op: 'insert', at: 0 }], 'right before the first NVIDIA hook')
  t.same(plan([other, cdiHook('update-ldcache'), cdiHook(DDNM)]), [{ op: 'insert', at: 1 }])
  t.same(plan([ctk('create-symlinks'), ctk('update-ldcache')]), [], 'no disable-device-node-modification: nothing')
  t.same(plan([other, ourHook(), ctk(DDNM)]), [], 'ours already in front')
  t.same(plan([ctk(DDNM), ourHook()]), [{ op: 'insert', at: 0 }], "ours behind NVIDIA's does not help")
  t.same(plan([other]), [])
  t.same(plan([]), [])
  t.same(plan([ourHook(), ctk('create-symlinks')]), [{ op: 'remove', at: 0 }], 'ours where nothing needs it: removed')
  t.same(plan([ourHook(), ctk('create-symlinks')], false), [], '... unless told to leave such lists alone')
  const unsafe = { path: '/opt/nph', args: ['nvidia-procfs-hook', 'hook', '--log-file', '/var/log/n.log'] }
  t.same(plan([unsafe, ctk(DDNM)]), [
    { op: 'replace', at: 0, why: "no env (it would inherit the container image's, LD_PRELOAD included)", options: { binary: '/opt/nph', logFile: '/var/log/n.log' } },
  ], 'unsafe: replaced in place, keeping binary and log file')
  t.same(plan([{ path: 'rel', args: ['nvidia-procfs-hook', '--log-file', 'rel.log'], env: ['LD_PRELOAD=x'] }, ctk(DDNM)]), [
    { op: 'replace', at: 0, why: 'env sets LD_PRELOAD', options: {} },
  ], 'relative paths are not kept')
  t.same(plan([{ path: '/b/nvidia-procfs-hook', args: 'x' }, ctk(DDNM)], false), [
    { op: 'replace', at: 0, why: "no env (it would inherit the container image's, LD_PRELOAD included)", options: { binary: '/b/nvidia-procfs-hook' } },
  ])
  const mixed = [{ hookName: 'createRuntime', ...ctk('x') }, { hookName: 'createContainer', ...ctk(DDNM) }]
  t.same(planHooksList(mixed, { isCreateContainer: h => (h as { hookName: string }).hookName === 'createContainer', removeUnneeded: true }), [{ op: 'insert', at: 1 }], 'other stages skipped')
  t.equal(describeOps([{ op: 'insert', at: 0 }, { op: 'remove', at: 1 }, { op: 'replace', at: 2, why: 'env sets LD_PRELOAD', options: {} }]), "no nvidia-procfs-hook before NVIDIA's hooks; an entry of ours where no hook needs it; an unsafe entry of ours (env sets LD_PRELOAD)")
})

t.test('--binary and --log-file must be absolute', async t => {
  const flags = (argv: string[]) => parseArgs(argv, { string: ['binary', 'log-file'] }, 'x')
  t.same(entryOptionsFrom(flags([]), 'x'), {})
  t.same(entryOptionsFrom(flags(['--binary', '/b', '--log-file', '/l']), 'x'), { binary: '/b', logFile: '/l' })
  t.throws(() => entryOptionsFrom(flags(['--binary', 'b']), 'x'), { message: 'x: --binary must be an absolute path', exitCode: 2 })
  t.throws(() => entryOptionsFrom(flags(['--log-file', 'l']), 'x'), { message: 'x: --log-file must be an absolute path' })
})
