// Model and LoRA licences: where they are written down, what they allow, and scene diagnostics for a
// purpose a licence excludes or restricts.
export { readModelLicence, readFileLicence, licenceFromModelCard, licenceFromSafetensors, type LicenceReading } from './modelLicence';
export { checkLicence, licenceTerms, knownLicences, isCommercialPurpose, type LicenceFinding, type LicenceTerms, type LicenceKind } from './licencePolicy';
export { licenceDiagnostics, diagnosticsForLicences, sceneLicences, sceneLicence, componentLicence, describeLicence, type ComponentLicence } from './licenceDiagnostics';
export { lockedLicence, findLockfileRoot } from './lockedLicence';
