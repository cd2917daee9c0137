'use client';

/**
 * Chat markdown, loaded with next/dynamic (it and its highlighter stay out of the first load).
 * Safety, in order: raw HTML in the source becomes visible text (never markup); rehype-sanitize (GitHub's schema)
 * drops anything else unexpected; links are live only for http(s)/mailto and open with rel=noopener noreferrer;
 * images load only from allowed origins. KaTeX runs after sanitizing, on math nodes only, and its CSS and fonts
 * are bundled (no CDN).
 */
import 'katex/dist/katex.min.css';
import type { Root as HastRoot } from 'hast';
import { toJsxRuntime } from 'hast-util-to-jsx-runtime';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { createLowlight } from 'lowlight';
import { type ComponentProps, memo, type ReactNode } from 'react';
import { Fragment, jsx, jsxs } from 'react/jsx-runtime';
import ReactMarkdown, { type Components } from 'react-markdown';
import rehypeKatex from 'rehype-katex';
import rehypeSanitize, { defaultSchema } from 'rehype-sanitize';
import remarkGfm from 'remark-gfm';
import remarkMath from 'remark-math';
import { CopyButton } from '../copy-button';
import { useApp } from '../providers';
import { imageAllowed, originOf, safeHref } from './safe-links';

const lowlight = createLowlight({
  bash,
  css,
  go,
  java,
  javascript,
  json,
  python,
  rust,
  sql,
  typescript,
  xml,
  yaml,
});
lowlight.registerAlias({ bash: ['sh', 'shell', 'zsh'], javascript: ['js', 'jsx'], typescript: ['ts', 'tsx'] });
lowlight.registerAlias({ xml: ['html', 'svg'], yaml: ['yml'], python: ['py'] });

/** GitHub's sanitize schema, plus the class names remark-math puts on math code for rehype-katex. */
const schema = {
  ...defaultSchema,
  attributes: {
    ...defaultSchema.attributes,
    code: [['className', /^language-./, 'math-inline', 'math-display']],
  },
};

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

/** Raw HTML in the source is shown as the text it is: `<img onerror=…>` reads as characters, never runs. */
function remarkHtmlAsText() {
  const walk = (node: MdNode) => {
    if (node.type === 'html') node.type = 'text';
    for (const child of node.children ?? []) walk(child);
  };
  return (tree: MdNode) => walk(tree);
}

function textOf(node: ReactNode): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(textOf).join('');
  if (node && typeof node === 'object' && 'props' in node) {
    return textOf((node.props as { children?: ReactNode }).children);
  }
  return '';
}

function highlighted(code: string, language: string | undefined): ReactNode {
  if (!language || !lowlight.registered(language)) return code;
  try {
    const tree = lowlight.highlight(language, code) as HastRoot;
    return toJsxRuntime(tree, { Fragment, jsx, jsxs });
  } catch {
    return code;
  }
}

function Pre({ children }: ComponentProps<'pre'>) {
  const { t } = useApp();
  const code = Array.isArray(children) ? children[0] : children;
  const props = (code && typeof code === 'object' && 'props' in code ? code.props : {}) as {
    className?: string;
    children?: ReactNode;
  };
  const language = /language-([\w-]+)/.exec(props.className ?? '')?.[1];
  const text = textOf(props.children).replace(/\n$/, '');
  return (
    <div className="code-block">
      <div className="code-head">
        <span className="muted">{language ?? ''}</span>
        <CopyButton text={text} label={t('chat.copyCode')} />
      </div>
      <pre>
        <code className={`hljs${language ? ` language-${language}` : ''}`}>{highlighted(text, language)}</code>
      </pre>
    </div>
  );
}

function Anchor({ href, children }: ComponentProps<'a'>) {
  const { t } = useApp();
  const base = typeof window === 'undefined' ? 'http://localhost' : window.location.href;
  const safe = safeHref(href, base);
  if (!safe) {
    return <span className="inert-link">{t('chat.linkInert', { text: textOf(children) })}</span>;
  }
  return (
    <a href={safe} target="_blank" rel="noopener noreferrer nofollow ugc">
      {children}
    </a>
  );
}

function Image({ src, alt }: ComponentProps<'img'>) {
  const { t, imageOrigins } = useApp();
  const base = typeof window === 'undefined' ? 'http://localhost' : window.location.href;
  const source = typeof src === 'string' ? src : undefined;
  if (!imageAllowed(source, base, imageOrigins)) {
    return (
      <span className="inert-link">{t('chat.imageBlocked', { origin: originOf(source, base), alt: alt ?? '' })}</span>
    );
  }
  // biome-ignore lint/performance/noImgElement: user content from allowed origins; next/image needs fixed sizes
  return <img src={source} alt={alt ?? ''} loading="lazy" referrerPolicy="no-referrer" />;
}

const components: Components = {
  pre: Pre,
  a: Anchor,
  img: Image,
  table: ({ children }) => (
    <div className="table-wrap">
      <table className="table">{children}</table>
    </div>
  ),
};

function MarkdownView({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={[remarkHtmlAsText, remarkGfm, remarkMath]}
        rehypePlugins={[[rehypeSanitize, schema], rehypeKatex]}
        components={components}
        skipHtml={false}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
}

export default memo(MarkdownView);
