// Preloaded into the HTTP caching suite's origin (node --import): its
// server.listen(port) names no host, so it would listen on every interface.
// A listen call with a port and no host gets 127.0.0.1; any other call is
// left as it is.
import net from 'node:net'

const listen = net.Server.prototype.listen
const isPort = v => typeof v === 'number' || (typeof v === 'string' && /^[0-9]+$/.test(v))

net.Server.prototype.listen = function (...args) {
  const [first] = args
  if (isPort(first) && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1')
  } else if (first && typeof first === 'object' && 'port' in first &&
             first.host === undefined && first.path === undefined) {
    args[0] = { ...first, host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}
