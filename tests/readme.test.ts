/** The README is part of the product: what it promises must stay true of the code and the tests. */
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { ErrorCode } from '../lib/errors.js';

const root = new URL('..', import.meta.url);
const readme = await readFile(new URL('README.md', root), 'utf8');

async function testTitles(): Promise<Map<string, string>> {
  const titles = new Map<string, string>();
  for (const name of await readdir(new URL('tests/', root))) {
    if (!name.endsWith('.test.ts')) continue;
    titles.set(name.replace(/\.test\.ts$/, ''), await readFile(new URL(`tests/${name}`, root), 'utf8'));
  }
  return titles;
}

test('the README opens with the two set-up commands', (t) => {
  const start = readme.slice(0, 1500);
  t.true(start.includes('npm install && npm start'));
  t.true(start.includes('npm test'));
});

test('every error code is listed in the README', (t) => {
  for (const code of Object.values(ErrorCode)) t.true(readme.includes(`\`${code}\``), code);
});

test('every test the seed parity table cites exists', async (t) => {
  const sources = await testTitles();
  const section = readme.slice(readme.indexOf('## The seed and its equivalents'));
  const table = section.slice(section.indexOf('| seed |'), section.indexOf('\n\n', section.indexOf('| seed |')));
  const cited = [...table.matchAll(/([a-z-]+) › ([^|;]+?)\s*(?=[|;])/g)].map((m) => [m[1]!, m[2]!.trim()] as const);
  t.true(cited.length > 20, 'the table cites the tests');
  for (const [file, title] of cited) {
    if (title.startsWith('(')) continue; // a group of tests, named in words
    const source = sources.get(file);
    t.truthy(source, `tests/${file}.test.ts exists`);
    const literal = source?.includes(`'${title}'`) || source?.includes(`\`${title}\``);
    // A title made from a template literal, e.g. `... stopped (${order}) exits ...`.
    const [, before, after] = /^(.*)\([^)]*\)(.*)$/.exec(title) ?? [];
    const templated = before !== undefined && source !== undefined && source.includes(`${before}(\${`) && source.includes(`})${after}`);
    t.true(literal || templated, `${file} › ${title}`);
  }
});
