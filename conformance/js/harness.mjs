// What every Node check script of the conformance suite shares: a failure that carries
// its own message, checks with a timeout each, clean-ups run after each check, and the
// runner that prints one JSON line {name, ok, message} per check (or their names with
// --list). CF_ONLY keeps the checks whose name contains it.
export class Failed extends Error {}

export const ensure = (cond, msg) => { if (!cond) throw new Failed(msg) }

export function suite (defaultTimeout) {
  const checks = []
  let cleanups = []
  const check = (name, fn, timeout = defaultTimeout) => checks.push({ name, fn, timeout })
  const cleanup = (fn) => cleanups.push(fn)

  async function run () {
    if (process.argv.includes('--list')) {
      for (const c of checks) console.log(c.name)
      return
    }
    const only = (process.env.CF_ONLY || '').toLowerCase()
    for (const c of checks) {
      if (only && !c.name.toLowerCase().includes(only)) continue
      cleanups = []
      let result
      try {
        let timer
        const timeout = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Failed(`timed out after ${c.timeout / 1000}s`)), c.timeout) })
        await Promise.race([c.fn(), timeout]).finally(() => clearTimeout(timer))
        result = { name: c.name, ok: true, message: '' }
      } catch (e) {
        result = { name: c.name, ok: false, message: e instanceof Failed ? e.message : `${e?.name}: ${e?.message}` }
      }
      for (const fn of cleanups.reverse()) { try { await fn() } catch {} }
      console.log(JSON.stringify(result))
    }
  }

  return { check, cleanup, run }
}
