// Tokenises text with syntaxes/imgprompt.tmLanguage.json through vscode-textmate and vscode-oniguruma,
// the same engine and regex library VS Code uses, so the scopes asserted here are the ones users see.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';

export interface Token {
  line: number;
  text: string;
  scopes: string[];
}

const grammarPath = join(__dirname, '..', '..', '..', 'syntaxes', 'imgprompt.tmLanguage.json');
let grammar: Promise<textmate.IGrammar> | undefined;

async function loadGrammar(): Promise<textmate.IGrammar> {
  const wasm = readFileSync(createRequire(__filename).resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.imgprompt' ? textmate.parseRawGrammar(readFileSync(grammarPath, 'utf8'), grammarPath) : null,
  });
  const loaded = await registry.loadGrammar('source.imgprompt');
  if (!loaded) throw new Error(`could not load source.imgprompt from ${grammarPath}`);
  return loaded;
}

/** All tokens of `text`, line by line, with the full scope stack of each. */
export async function tokenize(text: string): Promise<Token[]> {
  grammar ??= loadGrammar();
  const g = await grammar;
  const tokens: Token[] = [];
  let state = textmate.INITIAL;
  text.split('\n').forEach((lineText, line) => {
    const result = g.tokenizeLine(lineText, state);
    for (const token of result.tokens) {
      tokens.push({ line, text: lineText.slice(token.startIndex, token.endIndex), scopes: token.scopes });
    }
    state = result.ruleStack;
  });
  return tokens;
}
