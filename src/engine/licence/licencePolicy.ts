// What a licence allows for a figure's purpose. The scene's `purpose:` is a sentence; a purpose is taken
// as commercial when it says so (commercial, advertising, marketing, client work, for sale). Licences are
// known by their Hugging Face / SPDX ids; for each, whether commercial use is excluded and the clause
// that says so or that restricts use. Anything else is `unknown`, which is a warning, never silence.

export type LicenceKind = 'permissive' | 'use-restricted' | 'non-commercial';

export interface LicenceTerms {
  readonly kind: LicenceKind;
  readonly name: string;
  /** The clause a diagnostic quotes (short, with where it is in the licence). */
  readonly clause: string;
}

const OPENRAIL_RESTRICTIONS =
  'Use-based restrictions (paragraph 5 and Attachment A): the model and its outputs may not be used for the uses Attachment A lists (e.g. to generate or disseminate verifiably false information with the purpose of harming others, to defame, to exploit minors); these restrictions pass on to anyone you share the model with.';

const KNOWN: Record<string, LicenceTerms> = {
  mit: { kind: 'permissive', name: 'MIT', clause: '' },
  'apache-2.0': { kind: 'permissive', name: 'Apache-2.0', clause: '' },
  'cc0-1.0': { kind: 'permissive', name: 'CC0-1.0', clause: '' },
  'cc-by-4.0': { kind: 'permissive', name: 'CC-BY-4.0', clause: '' },
  'bsd-3-clause': { kind: 'permissive', name: 'BSD-3-Clause', clause: '' },
  'creativeml-openrail-m': { kind: 'use-restricted', name: 'CreativeML OpenRAIL-M', clause: OPENRAIL_RESTRICTIONS },
  'openrail': { kind: 'use-restricted', name: 'OpenRAIL', clause: OPENRAIL_RESTRICTIONS },
  'openrail++': { kind: 'use-restricted', name: 'CreativeML OpenRAIL++-M', clause: OPENRAIL_RESTRICTIONS },
  'openrail-m': { kind: 'use-restricted', name: 'OpenRAIL-M', clause: OPENRAIL_RESTRICTIONS },
  'flux-1-dev-non-commercial-license': {
    kind: 'non-commercial',
    name: 'FLUX.1 [dev] Non-Commercial License',
    clause: 'The FLUX.1 [dev] Non-Commercial License grants use of the model and its derivatives for Non-Commercial Purposes only; commercial use needs a separate licence from Black Forest Labs.',
  },
  'cc-by-nc-4.0': { kind: 'non-commercial', name: 'CC-BY-NC-4.0', clause: 'CC BY-NC 4.0, section 2(a)(1): the licence covers reproducing and sharing "for NonCommercial purposes only".' },
  'cc-by-nc-sa-4.0': { kind: 'non-commercial', name: 'CC-BY-NC-SA-4.0', clause: 'CC BY-NC-SA 4.0, section 2(a)(1): the licence covers reproducing and sharing "for NonCommercial purposes only".' },
  'cc-by-nc-nd-4.0': { kind: 'non-commercial', name: 'CC-BY-NC-ND-4.0', clause: 'CC BY-NC-ND 4.0, section 2(a)(1): the licence covers reproducing and sharing "for NonCommercial purposes only".' },
};

/** The licence ids imgprompt knows, with their names and kinds (completion of a scene's `license:`). */
export function knownLicences(): { id: string; name: string; kind: LicenceKind }[] {
  return Object.entries(KNOWN).map(([id, t]) => ({ id, name: t.name, kind: t.kind }));
}

/**
 * Civitai's permissions as imgprompt.lock records them (hub/civitai.ts civitaiLicense): `Civitai permissions:
 * commercial use: none|Image, Rent, Sell…; …; credit required|not required; …`. Selling generated images is
 * the `Image` permission; without it a figure may not be used commercially.
 */
function civitaiTerms(id: string): LicenceTerms | undefined {
  const match = /^civitai permissions:\s*commercial use:\s*([^;]*)/.exec(id);
  if (!match) return undefined;
  const uses = match[1].split(',').map((u) => u.trim()).filter((u) => u && u !== 'none');
  const name = id;
  if (!uses.includes('image')) {
    return { kind: 'non-commercial', name, clause: `The creator's Civitai permissions do not allow selling images generated with it (commercial use: ${uses.length ? uses.join(', ') : 'none'}).` };
  }
  if (/credit required/.test(id)) return { kind: 'use-restricted', name, clause: 'The creator\'s Civitai permissions require crediting them when the model or its images are used.' };
  return { kind: 'permissive', name, clause: '' };
}

/** The terms of a licence id, or undefined when imgprompt does not know it. */
export function licenceTerms(id: string): LicenceTerms | undefined {
  const lower = id.toLowerCase();
  return KNOWN[lower] ?? civitaiTerms(lower);
}

/** True when the purpose sentence declares commercial use (and does not say "non-commercial"). */
export function isCommercialPurpose(purpose: string | null | undefined): boolean {
  if (!purpose) return false;
  const text = purpose.toLowerCase().replace(/non[-\s]?commercial/g, '');
  return /\b(commercial|advertis\w*|marketing|client work|for sale|paid|product page)\b/.test(text);
}

export interface LicenceFinding {
  readonly severity: 'error' | 'warning' | 'info';
  readonly message: string;
}

/** What a component's licence means for the scene's purpose (`what`: "the model 'x'", "the LoRA 'y'"). */
export function checkLicence(what: string, licenceId: string, purpose: string | null | undefined): LicenceFinding | undefined {
  const commercial = isCommercialPurpose(purpose);
  if (licenceId === 'unknown') {
    return { severity: 'warning', message: `${what} has no licence imgprompt can find (model card, modelspec.license or model_index.json): check that you may use it${commercial ? ' commercially' : ''}` };
  }
  const terms = licenceTerms(licenceId);
  if (!terms) return { severity: 'info', message: `${what} is licensed under '${licenceId}', which imgprompt does not know: read its terms` };
  if (commercial && terms.kind === 'non-commercial') {
    return { severity: 'error', message: `the purpose is commercial but ${what} is licensed under ${terms.name}, which excludes commercial use. ${terms.clause}` };
  }
  if (commercial && terms.kind === 'use-restricted') {
    return { severity: 'warning', message: `${what} is licensed under ${terms.name}, which allows commercial use with restrictions. ${terms.clause}` };
  }
  return undefined;
}
