import t, { type Test } from 'tap'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hooksDCheck } from '../../src/doctor-hooks-d'
import type { Finding } from '../../src/doctor-finding'
import { crioView } from '../../src/engine-crio'
import { podmanView } from '../../src/engine-podman'
import { CONTAINERS_CONF_D, PODMAN_DROP_IN, PODMAN_HOOKS_DIR } from '../../src/host-layout'
import { makeHost, type HostLayout } from '../harness/host-tree'

// Each hooks.d file judged by the loader of each engine on the host that reads
// its directory (issue 17 point 5): CRI-O (and the NRI hook-injector) with no
// extension stages, podman with precreate; 0.1.0 files load in both.
const SHIPPED = (f: string) => readFileSync(join(__dirname, '../../hooks.d', f), 'utf8')
const USR = 'usr/share/containers/oci/hooks.d'
const ETC = 'etc/containers/oci/hooks.d'
const BINARY = { 'usr/bin/nvidia-procfs-hook': '#!/bin/sh\nexit 0\n' }
const PODMAN = { 'usr/bin/podman': '#!/bin/sh\n', 'usr/share/containers/containers.conf': readFileSync(join(__dirname, '../fixtures/engines/podman-5.8/containers.conf'), 'utf8') }
const CRIO = { 'usr/bin/crio': '#!/bin/sh\n', 'etc/crio/crio.conf': readFileSync(join(__dirname, '../fixtures/engines/cri-o/crio.conf'), 'utf8') }
const NO_OURS: Finding = {
  check: 'hooks.d',
  status: 'info',
  summary: 'no hooks.d file for nvidia-procfs-hook in /usr/share/containers/oci/hooks.d or /etc/containers/oci/hooks.d: podman relies on patched CDI specs alone',
  fix: 'nvidia-procfs-hook install --hooks-d',
}

const judge = (t: Test, layout: HostLayout) => {
  const host = { root: makeHost(t, { ...BINARY, ...layout }) }
  return hooksDCheck(host, [podmanView(host), crioView(host)])
}

t.test("podman's precreate file where CRI-O reads: FAIL, naming CRI-O and the move", async t => {
  const layout = { [`${USR}/nvidia-procfs-hook.json`]: SHIPPED('nvidia-procfs-hook.json') }
  t.same(judge(t, { ...PODMAN, ...layout }), [
    { check: 'hooks.d', status: 'ok', summary: `/${USR}/nvidia-procfs-hook.json: precreate -> /usr/bin/nvidia-procfs-hook (read by podman)` },
  ], 'podman alone loads it')
  t.same(judge(t, { ...PODMAN, ...CRIO, ...layout }), [
    {
      check: 'hooks.d',
      status: 'fail',
      summary: `/${USR}/nvidia-procfs-hook.json: unknown stage "precreate": CRI-O does not start (it returns the error at start-up; containerd's NRI hook-injector exits on it too)`,
      fix: `rm /${USR}/nvidia-procfs-hook.json && nvidia-procfs-hook install --hooks-d   # podman's precreate file goes where only podman reads it (${PODMAN_DROP_IN})`,
    },
  ])
  const theirs = JSON.stringify({ version: '1.0.0', hook: { path: '/usr/bin/nvidia-procfs-hook' }, when: { always: true }, stages: ['precreate'] }).replace('nvidia-procfs-hook"', 'other-hook"')
  t.match(judge(t, { ...PODMAN, ...CRIO, [`${USR}/other.json`]: theirs, 'usr/bin/other-hook': '#!/bin/sh\n' })[0], {
    status: 'fail',
    fix: `mv /${USR}/other.json DIR   # a directory that only the engines that load it read: /${USR} is read by podman and CRI-O`,
  }, "another's precreate file: moved where CRI-O does not look")
  t.match(judge(t, { ...CRIO, [`${USR}/other.json`]: theirs })[0], { status: 'fail', fix: `fix or remove /${USR}/other.json` }, 'CRI-O alone reads it')
})

t.test("our file where no engine looks: a warning (podman 4.3 and 5.8 read /usr/share only)", async t => {
  t.same(judge(t, { ...PODMAN, ...CRIO, [`${ETC}/nvidia-procfs-hook.json`]: SHIPPED('nvidia-procfs-hook.json') }), [
    {
      check: 'hooks.d',
      status: 'warn',
      summary: `/${ETC}/nvidia-procfs-hook.json: precreate -> /usr/bin/nvidia-procfs-hook; no engine here reads /${ETC} (podman reads /usr/share/containers/oci/hooks.d; CRI-O reads /usr/share/containers/oci/hooks.d): this file does nothing`,
      fix: `rm /${ETC}/nvidia-procfs-hook.json && nvidia-procfs-hook install --hooks-d`,
    },
  ])
})

t.test("install --hooks-d's routes: podman's directory through the drop-in, CRI-O's createContainer file", async t => {
  const findings = judge(t, {
    ...PODMAN,
    ...CRIO,
    [`${CONTAINERS_CONF_D.slice(1)}/nvidia-procfs-hook.conf`]: `[engine]\nhooks_dir = ["${PODMAN_HOOKS_DIR}", {append=true}]\n`,
    [`${PODMAN_HOOKS_DIR.slice(1)}/nvidia-procfs-hook.json`]: SHIPPED('nvidia-procfs-hook.json'),
    [`${USR}/nvidia-procfs-hook-createcontainer.json`]: SHIPPED('nvidia-procfs-hook-createcontainer.json'),
  })
  t.same(findings, [
    { check: 'hooks.d', status: 'ok', summary: `/${USR}/nvidia-procfs-hook-createcontainer.json: createContainer -> /usr/bin/nvidia-procfs-hook (read by podman and CRI-O)` },
    { check: 'hooks.d', status: 'ok', summary: `${PODMAN_HOOKS_DIR}/nvidia-procfs-hook.json: precreate -> /usr/bin/nvidia-procfs-hook (read by podman)` },
  ])
})

t.test('0.1.0 files as oci-systemd-hook and oci-umount ship them: loaded by both, nothing to fix', async t => {
  const findings = judge(t, {
    ...PODMAN,
    ...CRIO,
    [`${USR}/oci-systemd-hook.json`]: JSON.stringify({ cmds: ['.*/init$', '.*/systemd$'], hook: '/usr/libexec/oci/hooks.d/oci-systemd-hook', stage: ['prestart', 'poststop'] }),
    [`${USR}/oci-umount.json`]: JSON.stringify({ hook: '/usr/libexec/oci/hooks.d/oci-umount', stages: ['prestart'] }),
  })
  t.same(findings, [NO_OURS])
})

t.test('a file masked by the same name in a later directory of one engine is judged only by the others', async t => {
  const bad = JSON.stringify({ version: '1.0.0', hook: { path: '/usr/bin/x' }, stages: ['precreate'] })
  const findings = judge(t, {
    ...PODMAN,
    ...CRIO,
    'etc/containers/containers.conf': `[engine]\nhooks_dir = ["/${USR}", "/${ETC}"]\n`,
    [`${USR}/x.json`]: bad,
    [`${ETC}/x.json`]: bad.replace('precreate', 'prestart'),
  })
  t.match(findings[0], { status: 'fail', summary: `/${USR}/x.json: unknown stage "precreate": CRI-O does not start (it returns the error at start-up; containerd's NRI hook-injector exits on it too)` })
  t.equal(findings.length, 2, 'the /etc file loads in podman; then the note that none is ours')
})

t.test("the packages' precreate directory before install's drop-in: a note with the command that adds it", async t => {
  t.same(judge(t, { ...PODMAN, [`${PODMAN_HOOKS_DIR.slice(1)}/nvidia-procfs-hook.json`]: SHIPPED('nvidia-procfs-hook.json') }), [
    {
      check: 'hooks.d',
      status: 'info',
      summary: `${PODMAN_HOOKS_DIR}/nvidia-procfs-hook.json: precreate -> /usr/bin/nvidia-procfs-hook; podman reads ${PODMAN_HOOKS_DIR} only once a containers.conf drop-in adds it (podman's precreate route; patched CDI specs serve podman without it)`,
      fix: `nvidia-procfs-hook install --prefix /usr --hooks-d   # writes ${PODMAN_DROP_IN}`,
    },
  ])
})

t.test('no engine on the host: our files are said to do nothing', async t => {
  t.match(judge(t, { [`${USR}/nvidia-procfs-hook.json`]: SHIPPED('nvidia-procfs-hook.json') }), [{ status: 'warn', summary: /no engine here reads \/usr\/share\/containers\/oci\/hooks\.d: this file does nothing$/ }])
})

t.test('what cannot be read, a broken file no engine reads, and our file under our stricter rules', async t => {
  const unreadable = makeHost(t, { ...BINARY, ...PODMAN })
  mkdirSync(join(unreadable, USR, 'x.json'), { recursive: true })
  const host = { root: unreadable }
  t.same(hooksDCheck(host, [podmanView(host)])[0], { check: 'hooks.d', status: 'fail', summary: `cannot read hooks.d file /${USR}/x.json: EISDIR`, fix: `fix or remove /${USR}/x.json` }, 'in a directory podman reads')
  t.same(judge(t, { ...PODMAN, [`${ETC}/bad.json`]: '{' }), [NO_OURS], 'broken, but where no engine looks')
  const noEnv = JSON.stringify({ version: '1.0.0', hook: { path: '/usr/bin/nvidia-procfs-hook', args: ['nvidia-procfs-hook', 'precreate'] }, when: { always: true }, stages: ['precreate'] })
  t.same(judge(t, { ...PODMAN, [`${USR}/nvidia-procfs-hook.json`]: noEnv }), [
    {
      check: 'hooks.d',
      status: 'warn',
      summary: `/${USR}/nvidia-procfs-hook.json: "hook.env" must be a list of NAME=value strings (explicit, or the hook inherits its caller's environment)`,
      fix: `nvidia-procfs-hook install --hooks-d   # rewrites /${USR}/nvidia-procfs-hook.json`,
    },
  ])
})
