// Scores the HTTP caching suite's results the way its results page does:
// the suite's own determineTestResult, dependencies honoured (a test whose
// depends_on did not pass is a dependency failure, not a pass).
//
// usage: node score.mjs SUITE_DIR RESULTS.json shared|private [MIN_PASSED MIN_REQUIRED]
//   stdout: "passed P (required R, optimal O), failed F, optional-failed X, of T"
//           and each required test that failed
//   exit 1 when P < MIN_PASSED or R < MIN_REQUIRED
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [dir, file, mode, minPassed, minRequired] = process.argv.slice(2)
const load = rel => import(pathToFileURL(path.join(dir, rel)).href)
const suites = (await load('tests/index.mjs')).default
if (mode === 'shared') suites.push((await load('tests/surrogate-control.mjs')).default)
const { determineTestResult } = await load('lib/display.mjs')
const results = JSON.parse(fs.readFileSync(file, 'utf8'))

// 0.4.5 does not export its result types: each is [icon, colour, symbol].
const symbols = {
  '✅': 'pass', '⛔️': 'fail', '⚠️': 'optional_fail', Y: 'yes', N: 'no', '🔹': 'setup_fail',
  '⁉️': 'harness_fail', '⚪️': 'dependency_fail', '↻': 'retry', '-': 'untested'
}
const name = r => symbols[r[2]] ?? String(r[2])
const counts = { pass: 0, required: 0, optimal: 0, fail: 0, optional_fail: 0, total: 0 }
const failed = []
for (const suite of suites) {
  for (const test of suite.tests) {
    if (results[test.id] === undefined) continue
    counts.total++
    const verdict = name(determineTestResult(suites, test.id, results, true))
    const kind = test.kind ?? 'required'
    if (verdict === 'pass') {
      counts.pass++
      counts[kind]++
    } else if (verdict === 'fail' || verdict === 'optional_fail') {
      counts[verdict]++
    }
    if (kind === 'required' && verdict !== 'pass') failed.push(`${test.id} (${verdict})`)
  }
}
console.log(`${mode}: passed ${counts.pass} (required ${counts.required}, optimal ${counts.optimal}), ` +
  `failed ${counts.fail}, optional-failed ${counts.optional_fail}, of ${counts.total}`)
for (const id of failed) console.log(`  required, not passed: ${id}`)
if (minPassed !== undefined &&
    (counts.pass < Number(minPassed) || counts.required < Number(minRequired))) {
  console.log(`${mode}: below the floor (passed >= ${minPassed}, required >= ${minRequired})`)
  process.exit(1)
}
