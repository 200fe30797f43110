import t from 'tap'
import { parseArgs } from '../../src/parse-args'

const spec = { string: ['rootfs', 'stage'], boolean: ['debug'] }

t.test('known flags, both spellings', async t => {
  const f = parseArgs(['--rootfs', '/r', '--stage=createContainer', '--debug', 'pos'], spec, 'hook')
  t.equal(f.rootfs, '/r')
  t.equal(f.stage, 'createContainer')
  t.equal(f.debug, true)
  t.same(f._, ['pos'])
  t.equal(parseArgs(['-h'], spec, 'hook').help, true)
  t.equal(parseArgs([], spec, 'hook').rootfs, undefined, 'absent string flag is undefined')
  t.equal(parseArgs(['-'], spec, 'hook')._[0], '-', 'a lone dash is a positional')
})

t.test('misuse is a usage error (exit 2) naming the flag', async t => {
  const bad: [string[], RegExp][] = [
    [['--rootf', '/r'], /^hook: unknown option --rootf$/],
    [['-x'], /unknown option -x/],
    [['--bogus=1'], /unknown option --bogus=1/],
    [['--rootfs'], /--rootfs needs a value/],
    [['--rootfs='], /--rootfs needs a value/],
    [['--rootfs', '/a', '--rootfs', '/b'], /--rootfs given more than once/],
  ]
  for (const [argv, msg] of bad) t.throws(() => parseArgs(argv, spec, 'hook'), { name: 'UsageError', exitCode: 2, message: msg }, argv.join(' '))
})

t.test('a spec without flags of one kind', async t => {
  t.same(parseArgs(['--debug'], { boolean: ['debug'] }, 'x').debug, true)
  t.same(parseArgs(['--rootfs', '/r'], { string: ['rootfs'] }, 'x').rootfs, '/r')
})
