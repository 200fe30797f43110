import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadHooksFile, parseHooksFile } from '../../src/hooks-d'
import { ourHook } from '../../src/registration'

const DIR = join(__dirname, '../../hooks.d')
const good = {
  version: '1.0.0',
  hook: { path: '/usr/bin/x', args: ['x'], env: ['PATH=/usr/bin'], timeout: 5 },
  when: { always: true, annotations: { '^a$': 'b.*' }, commands: ['.*'], hasBindMounts: false },
  stages: ['prestart', 'precreate'],
}
const check = (over: Record<string, unknown>) => () => parseHooksFile(JSON.stringify({ ...good, ...over }), 'f.json')
const hook = (over: Record<string, unknown>) => check({ hook: { ...good.hook, ...over } })
const when = (w: unknown) => check({ when: w })

t.test('the shipped hooks.d files are valid and register exactly our entry', async t => {
  const files = readdirSync(DIR).sort()
  t.same(files, ['nvidia-procfs-hook-createcontainer.json', 'nvidia-procfs-hook-createruntime.json', 'nvidia-procfs-hook-prestart.json', 'nvidia-procfs-hook.json'])
  const parsed = Object.fromEntries(files.map(f => [f, parseHooksFile(readFileSync(join(DIR, f), 'utf8'), f)]))
  const precreate = parsed['nvidia-procfs-hook.json']
  t.same(precreate?.stages, ['precreate'])
  t.same(precreate?.hook, { path: '/usr/bin/nvidia-procfs-hook', args: ['nvidia-procfs-hook', 'precreate'], env: ourHook().env })
  for (const stage of ['createRuntime', 'prestart'] as const) {
    const f = parsed[`nvidia-procfs-hook-${stage.toLowerCase()}.json`]
    t.same(f?.stages, [stage])
    t.same(f?.hook, ourHook({ stage }), `${stage}: the same entry as registration.ts`)
  }
  for (const [name, f] of Object.entries(parsed)) {
    // CRI-O's file runs only where CRI-O's annotation is (podman reads that directory too).
    t.same(f.when, name === 'nvidia-procfs-hook-createcontainer.json' ? { annotations: { '^io\\.kubernetes\\.container\\.hash$': '.*' } } : { always: true }, name)
  }
})

t.test('a valid file parses', async t => {
  t.same(check({})(), good)
  t.same(parseHooksFile(JSON.stringify({ ...good, hook: { path: '/x', env: [] } }), 'f'), { ...good, hook: { path: '/x', env: [] } })
})

t.test('each rule names the file and the field', async t => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseHooksFile('{', 'f.json'), /not JSON \(.*\); podman fails every container on this$/],
    [() => parseHooksFile('[]', 'f.json'), /expected a JSON object$/],
    [check({ version: '1.0' }), /"version" must be "1\.0\.0", got "1\.0"/],
    [check({ version: undefined }), /"version" must be "1\.0\.0", got undefined/],
    [check({ hook: 'x' }), /"hook" must be an object/],
    [hook({ path: 'x' }), /"hook\.path" must be an absolute path/],
    [hook({ path: 3 }), /"hook\.path" must be an absolute path/],
    [hook({ args: 'x' }), /"hook\.args" must be a list of strings/],
    [hook({ args: [1] }), /"hook\.args" must be a list of strings/],
    [hook({ env: undefined }), /"hook\.env" must be a list of NAME=value strings \(explicit/],
    [hook({ env: ['PATH'] }), /"hook\.env" must be a list/],
    [hook({ env: ['=x'] }), /"hook\.env" must be a list/],
    [hook({ timeout: 0 }), /"hook\.timeout" must be a positive integer/],
    [hook({ timeout: 1.5 }), /"hook\.timeout" must be a positive integer/],
    [when(undefined), /"when" must be an object/],
    [when({}), /"when" has no condition, so it matches no container/],
    [when({ always: 'yes' }), /"when\.always" must be true or false/],
    [when({ hasBindMounts: 1 }), /"when\.hasBindMounts" must be true or false/],
    [when({ annotations: [] }), /"when\.annotations" must be an object of regular expressions/],
    [when({ annotations: { '(': 'x' } }), /"when\.annotations" is not a valid regular expression: "\("/],
    [when({ annotations: { a: 1 } }), /"when\.annotations" value for "a" must be a string/],
    [when({ annotations: { a: '[' } }), /"when\.annotations\["a"\]" is not a valid regular expression: "\["/],
    [when({ commands: '.*' }), /"when\.commands" must be a list of regular expressions/],
    [when({ commands: ['*'] }), /"when\.commands" is not a valid regular expression: "\*"/],
    [check({ stages: undefined }), /"stages" must be a non-empty list of stage names/],
    [check({ stages: [] }), /"stages" must be a non-empty list/],
    [check({ stages: ['precreat'] }), /unknown stage "precreat" in "stages"; podman fails every container on this/],
  ]
  for (const [f, message] of cases) t.throws(f, { message: new RegExp(`^f\\.json: ${message.source}`), exitCode: 1 }, message.source)
})

// containers/common pkg/hooks as each engine calls it: podman with the
// `precreate` extension stage, CRI-O and the NRI hook-injector with none.
const PODMAN = ['precreate']
const CRIO: string[] = []

t.test('the shipped files under each engine\'s loader', async t => {
  const load = (f: string, stages: string[]) => () => loadHooksFile(readFileSync(join(DIR, f), 'utf8'), f, stages)
  for (const f of readdirSync(DIR)) t.doesNotThrow(load(f, PODMAN), `podman loads ${f}`)
  t.throws(load('nvidia-procfs-hook.json', CRIO), { message: 'nvidia-procfs-hook.json: unknown stage "precreate"' }, 'CRI-O refuses the precreate file')
  for (const f of ['nvidia-procfs-hook-createcontainer.json', 'nvidia-procfs-hook-createruntime.json', 'nvidia-procfs-hook-prestart.json']) t.doesNotThrow(load(f, CRIO), `CRI-O loads ${f}`)
})

t.test('the 0.1.0 schema, as oci-systemd-hook and oci-umount ship it', async t => {
  const systemd = JSON.stringify({ cmds: ['.*/init$', '.*/systemd$'], hook: '/usr/libexec/oci/hooks.d/oci-systemd-hook', stage: ['prestart', 'poststop'] })
  const umount = JSON.stringify({ hook: '/usr/libexec/oci/hooks.d/oci-umount', arguments: ['--debug'], stages: ['prestart'], annotation: ['a'], hasbindmounts: true })
  for (const stages of [PODMAN, CRIO]) {
    t.same(loadHooksFile(systemd, 'oci-systemd-hook.json', stages), { version: '0.1.0', hook: { path: '/usr/libexec/oci/hooks.d/oci-systemd-hook' }, stages: ['prestart', 'poststop'] })
    t.same(loadHooksFile(umount, 'oci-umount.json', stages), {
      version: '0.1.0',
      hook: { path: '/usr/libexec/oci/hooks.d/oci-umount', args: ['/usr/libexec/oci/hooks.d/oci-umount', '--debug'] },
      stages: ['prestart'],
    })
  }
  t.same(loadHooksFile(JSON.stringify({ version: '0.1.0', hook: '/x', stages: ['createContainer'] }), 'f', CRIO).version, '0.1.0')
})

t.test("each loader rule, in the loader's words", async t => {
  const cases: [string, string][] = [
    ['{', 'not JSON'],
    ['[]', 'expected a JSON object'],
    ['{"version": "2.0.0"}', 'unrecognized hook version: "2.0.0"'],
    ['{"version": "1.0.0", "stages": ["prestart"]}', 'missing required property: hook.path'],
    ['{"version": "1.0.0", "hook": {"path": "/x"}}', 'missing required property: stages'],
    ['{"version": "1.0.0", "hook": {"path": "/x"}, "stages": ["precreate"]}', 'unknown stage "precreate"'],
    ['{"version": "1.0.0", "hook": {"path": 3}, "stages": []}', '"hook.path" has the wrong type'],
    ['{"version": "1.0.0", "hook": {"path": "/x"}, "when": {"commands": ["("]}, "stages": []}', '"when.commands" is not a valid regular expression: "("'],
    ['{"hook": "/x"}', 'missing required property: stages'],
    ['{"stage": ["prestart"]}', 'missing required property: hook'],
    ['{"hook": "/x", "stage": ["prestart"], "stages": ["prestart"]}', "cannot set both 'stage' and 'stages'"],
    ['{"hook": "/x", "stages": ["prestart"], "cmd": ["a"], "cmds": ["b"]}', "cannot set both 'cmd' and 'cmds'"],
    ['{"hook": "/x", "stages": ["prestart"], "cmds": ["["]}', '"cmds" is not a valid regular expression: "["'],
    ['{"hook": "/x", "stages": ["precreate"]}', 'unknown stage "precreate"'],
  ]
  for (const [text, message] of cases) t.throws(() => loadHooksFile(text, 'f.json', CRIO), { message: new RegExp(`^f\\.json: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }, message)
  t.same(loadHooksFile('{"version": "1.0.0", "hook": {"path": "/x"}, "stages": []}', 'f', CRIO).stages, [], 'an empty list is not a missing one')
})

t.test('0.1.0: an empty hook path', async t => {
  t.throws(() => loadHooksFile('{"hook": "", "stages": ["prestart"]}', 'f.json', CRIO), { message: 'f.json: missing required property: hook.path' })
})
