// Runs the HTTP caching suite (npm http-cache-tests 0.4.5) against a cache
// and prints its results as JSON, as the suite's cli.mjs does.
//
// usage: node run.mjs SUITE_DIR BASE_URL shared|private
//   shared   the CLI's selection: every test but browser_only ones, with
//            the surrogate-control tests, as cli.mjs runs them
//   private  the browser selection (runTests(.., true, ..)): browser_skip
//            tests out, browser_only in, as test-browser.html runs them
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const [dir, base, mode] = process.argv.slice(2)
if (!dir || !base || !['shared', 'private'].includes(mode)) {
  console.error('usage: node run.mjs SUITE_DIR BASE_URL shared|private')
  process.exit(2)
}
const load = rel => import(pathToFileURL(path.join(dir, rel)).href)
const { runTests, getResults } = await load('client/runner.mjs')
const tests = (await load('tests/index.mjs')).default
// The suite's own fetch (node-fetch 2, as its cli.mjs uses), resolved from its folder.
const fetch = createRequire(path.join(dir, 'package.json'))('node-fetch')
if (mode === 'shared') tests.push((await load('tests/surrogate-control.mjs')).default)

await runTests(tests, fetch, mode === 'private', base)
process.stdout.write(JSON.stringify(getResults(), null, 2) + '\n')
