import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'smol-toml'
import { applySettings, hooksDirSetting, podmanHooksDirs } from '../../src/containers-conf'
import { PODMAN_DROP_IN } from '../../src/host-layout'

const read = (text: string) => hooksDirSetting(parse(text), 'c.conf')

t.test('hooks_dir under [engine], as containers/common decodes it', async t => {
  t.equal(read(''), undefined, 'not set')
  t.equal(read('[containers]\nhooks_dir = ["/a"]\n[engine.runtimes]\nhooks_dir = ["/b"]\n'), undefined, "another table's key")
  t.same(read('[engine]\nhooks_dir = ["/a", \'/b\']\n'), { dirs: ['/a', '/b'], append: false })
  t.same(read('engine.hooks_dir = [\n  "/a", # a comment\n]\n'), { dirs: ['/a'], append: false }, 'a dotted key, over lines')
  t.same(read('[engine]\nhooks_dir = ["/a", {append=true}]\n'), { dirs: ['/a'], append: true }, "podman 5's append")
  t.same(read('[engine]\nhooks_dir = [{ append = false }, "/a"]\n'), { dirs: ['/a'], append: false })
  t.same(read('[engine]\nhooks_dir = []\n'), { dirs: [], append: false })
})

t.test('other shapes: one line naming the file', async t => {
  t.throws(() => read('[engine]\nhooks_dir = "/a"\n'), { message: 'c.conf: [engine] hooks_dir is not an array' })
  t.throws(() => read('[engine]\nhooks_dir = [1]\n'), { message: 'c.conf: [engine] hooks_dir holds 1, neither a directory nor {append = true}' })
  t.throws(() => read('[engine]\nhooks_dir = [{prepend = true}]\n'), { message: 'c.conf: [engine] hooks_dir holds {"prepend":true}, neither a directory nor {append = true}' })
})

t.test("podman's effective list for root: default, then each file in containers/common's order", async t => {
  const dir = t.testdir({
    usr: { share: { containers: { 'containers.conf': '[engine]\nhooks_dir = ["/usr/h"]\n' } } },
    etc: {
      containers: {
        'containers.conf': '[engine]\nnum_locks = 2048\n',
        'containers.conf.d': {
          '20-b.conf': '[engine]\nhooks_dir = ["/b", {append=true}]\n',
          '10-a.conf': '[engine]\nhooks_dir = ["/a"]\n',
          'nvidia-procfs-hook.conf': '[engine]\nhooks_dir = ["/ours"]\n',
          'notes.txt': '[engine]\nhooks_dir = ["/not-read"]\n',
        },
      },
    },
    bad: { etc: { containers: { 'containers.conf': '[engine\n' } } },
    shape: { etc: { containers: { 'containers.conf': '[engine]\nhooks_dir = "/x"\n' } } },
  })
  const all = podmanHooksDirs(dir)
  t.same(all.dirs, ['/ours'], 'our drop-in, read last by name, replaces')
  t.same(all.sources.map(s => s.file), ['/usr/share/containers/containers.conf', '/etc/containers/containers.conf', '/etc/containers/containers.conf.d/10-a.conf', '/etc/containers/containers.conf.d/20-b.conf', PODMAN_DROP_IN])
  t.same(podmanHooksDirs(dir, PODMAN_DROP_IN).dirs, ['/a', '/b'], 'without it')
  t.same(applySettings(['/x'], []), ['/x'])
  mkdirSync(join(dir, 'nothing'))
  t.same(podmanHooksDirs(join(dir, 'nothing')).dirs, ['/usr/share/containers/oci/hooks.d'], 'no file: the default')
  t.throws(() => podmanHooksDirs(join(dir, 'bad')), { message: /^containers\.conf \/etc\/containers\/containers\.conf is not valid TOML \(.*\)$/ }, 'podman would fail on it too')
  t.throws(() => podmanHooksDirs(join(dir, 'shape')), { message: `${dir}/shape/etc/containers/containers.conf: [engine] hooks_dir is not an array` })
})
