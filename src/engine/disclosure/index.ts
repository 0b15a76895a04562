// Disclosure where figures are used: alt-text templates, Markdown/HTML image references, and the check
// of a project's documents (disclosure present, team figures not published).
export { DEFAULT_DISCLOSURE_TEMPLATE, DEFAULT_CAPTION_TEMPLATE, DEFAULT_DISCLOSURE_MARKER, formatDisclosure, hasDisclosure, isoDate, templateProblems, type DisclosureFacts } from './disclosureText';
export { findMarkdownImages, findHtmlImages, localImagePath, sceneCandidates, imageLink, type MarkdownImage } from './markdownImages';
export { checkFigureReferences, checkDocumentText, findDocuments, MAX_DOCUMENTS, type FigureReferenceOptions, type FigureReferenceProblem, type DocumentCheckOptions } from './figureReferences';
