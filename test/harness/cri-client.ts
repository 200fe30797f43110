import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** The CRI's api.proto as Debian ships it (golang-github-kubernetes-cri-api-dev, in the sid root). */
export const CRI_PROTO = '/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto'

type Call = (request: object) => Promise<Record<string, unknown>>

/**
 * A CRI client as kubelet is one: runtime.v1 RuntimeService and
 * ImageService over the unix socket `address`. The proto's gogoproto
 * options are dropped first (runtimes.md): proto-loader has no use for them.
 * Returns each method as a promise-returning function, by name.
 */
export const criClient = (address: string, scratch: string): Record<string, Call> => {
  const proto = join(scratch, 'api.proto')
  writeFileSync(proto, readFileSync(CRI_PROTO, 'utf8').replace(/^import "github.com\/gogo\/protobuf\/gogoproto\/gogo.proto";\n/m, '').replace(/^option \(gogoproto\.[^\n]*\n/gm, ''))
  const def = protoLoader.loadSync(proto, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: Record<string, grpc.ServiceClientConstructor> } }
  const calls: Record<string, Call> = {}
  for (const service of ['RuntimeService', 'ImageService']) {
    const Client = pkg.runtime.v1[service] as grpc.ServiceClientConstructor
    const client = new Client(`unix://${address}`, grpc.credentials.createInsecure())
    for (const method of Object.keys(Client.service)) {
      calls[method] = request =>
        new Promise((resolve, reject) =>
          (client as unknown as Record<string, (r: object, cb: (er: Error | null, res: Record<string, unknown>) => void) => void>)[method]?.(request, (er, res) => (er ? reject(er) : resolve(res))),
        )
    }
  }
  return calls
}
