import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeBusyboxRootfs } from './busybox-rootfs'

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

/**
 * An OCI image layout tarball (image-spec) of a busybox rootfs, made by hand:
 * nothing is pulled. One uncompressed layer, so its digest is its diff_id.
 * `/pause` stays up, to serve as a CRI pod's sandbox image too. Returns the
 * tarball's path, for `ctr images import`.
 */
export const busyboxImage = (dir: string, ref: string): string => {
  const rootfs = join(dir, 'rootfs')
  writeBusyboxRootfs(rootfs)
  writeFileSync(join(rootfs, 'pause'), '#!/bin/sh\nexec sleep 2147483647\n', { mode: 0o755 })
  writeFileSync(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost\n')
  const layout = join(dir, 'layout')
  const blobs = join(layout, 'blobs/sha256')
  mkdirSync(blobs, { recursive: true })
  const put = (data: Buffer | string) => {
    const digest = sha256(data)
    writeFileSync(join(blobs, digest), data)
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) }
  }
  execFileSync('/usr/bin/tar', ['--numeric-owner', '-C', rootfs, '-cf', join(dir, 'layer.tar'), '.'])
  const layer = put(readFileSync(join(dir, 'layer.tar')))
  const config = put(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  )
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  )
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref } }],
    }),
  )
  const tarball = join(dir, 'image.tar')
  execFileSync('/usr/bin/tar', ['-C', layout, '-cf', tarball, '.'])
  return tarball
}
