#!/usr/bin/env python3
"""`make format-check`: do the C sources follow .clang-format?

Owns the comparison only; the style itself lives in .clang-format and the
list of files in the Makefile (FORMAT_SRCS).  Standard library only.

Each file is compared with what clang-format prints for it, statement by
statement (a statement: a line and the lines that continue it, split as
statements() says).  Compared exactly: where statements start, blank
lines, block indentation (tabs), braces, the tokens and the blanks
between them, no blanks at line ends.  Not compared, because clang-format
14 has no option for the KNF the tree is written in:
  - alignment gaps: KNF aligns macro values, member names and trailing
    comments with tabs to the next tab stop, clang-format to an exact
    column.  Inside a line any run of blanks counts as one blank.
  - continuation lines: KNF indents every continuation line 4 columns
    deeper than its statement and breaks after an operator where the line
    fills up; clang-format indents 4 more per open parenthesis and breaks
    elsewhere.  Where a statement is broken is the author's choice; each
    continuation line must be indented deeper than its statement, with
    tabs then fewer than 8 spaces.
  - blanks around ':' (clang-format 14 reads the colons of inline asm as
    C++ '::') and around - + * & after ')' (it cannot tell a cast from a
    parenthesized operand there), and macro bodies' indentation (it
    re-indents a #define's lines as code; KNF aligns their backslashes).

Usage: format_check.py [--clang-format PROG] FILE...; prints the first
differing line of each file that differs and exits 1 if any does.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def formatted(prog, path, style_dir):
    """clang-format's text for path, with the .clang-format of style_dir."""
    with open(path, 'rb') as f:
        src = f.read()
    name = os.path.join(style_dir, os.path.basename(path))
    out = subprocess.run([prog, '--assume-filename=' + name], input=src,
                         stdout=subprocess.PIPE, check=True)
    return out.stdout.decode().split('\n')


def indent(line):
    """(leading whitespace, its width with 8-column tabs, the rest)."""
    m = re.match(r'[ \t]*', line)
    lead = m.group(0)
    width = 0
    for c in lead:
        width = (width // 8 + 1) * 8 if c == '\t' else width + 1
    return lead, width, line[len(lead):]


def joined(lines):
    """The text of a statement broken over lines, as one line: blank runs
    as one blank, none inside parentheses and brackets, the backslashes
    of a macro dropped, and the blanks around ':' and around an operator
    after ')' not compared."""
    text = ' '.join(re.sub(r'\s*\\$', '', indent(x)[2]) for x in lines)
    text = gaps(text).strip()
    text = re.sub(r'([(\[]) | (?=[)\],;])', r'\1', text)
    text = re.sub(r' ?(::?) ?', r'\1', text)
    return re.sub(r'\) ?([-+*&]) ?', r')\1', text)


def gaps(text):
    return re.sub(r'[ \t]+', ' ', text).rstrip()


def ends_statement(line):
    """Can the next line start a statement (at the outermost level)?"""
    text = re.sub(r'\s*\\$', '', line).strip()
    return (text == '' or text.startswith('#') or text.endswith('*/') or
            text.startswith('//') or text[-1] in ';{})' or
            re.search(r'\b(else|do)$', text) is not None or
            re.fullmatch(r'(case .*|default|[A-Za-z_]\w*):', text) is not None)


def starts_statement(line):
    text = line.strip()
    return text == '' or text.startswith(('#', '/*', '//', '{', '}'))


def depth(line):
    """Parentheses and brackets a line opens (negative: closes)."""
    code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|/\*.*?(\*/|$)|//.*', '',
                  line)
    return (code.count('(') + code.count('[') - code.count(')') -
            code.count(']'))


def statements(want, flat):
    """Split clang-format's lines into statements: [first, end) ranges.

    A line continues the statement above it when clang-format indents it
    by ContinuationIndentWidth, or when the line above ends mid-statement:
    inside parentheses, or not with ; { } ) else do, a label, a comment
    or a preprocessor line, or when it starts with : ? && ||; a macro's
    lines are one statement."""
    starts, open_ = [], 0
    for i, line in enumerate(want):
        if i > 0 and want[i - 1].endswith('\\'):
            pass
        elif i == 0 or starts_statement(line) or (
                open_ <= 0 and ends_statement(want[i - 1]) and
                re.match(r'\s*([:?]|&&|\|\|)', line) is None and
                indent(line)[0] == indent(flat[i])[0]):
            starts.append(i)
            open_ = 0
        open_ += depth(line)
    return list(zip(starts, starts[1:] + [len(want)]))


def check(prog, path, flat_dir):
    """The first place path differs from the style: (line, wanted) or None."""
    with open(path) as f:
        have = f.read().split('\n')
    want = formatted(prog, path, TOP)
    flat = formatted(prog, path, flat_dir)
    if len(want) != len(flat):
        return 1, '(clang-format breaks lines differently without ' \
                  'continuation indentation; cannot check)'
    for h, line in enumerate(have):
        if line != line.rstrip():
            return h + 1, line.rstrip() + '   (no blanks at the end)'
    h = 0
    for w0, w1 in statements(want, flat):
        text = joined(want[w0:w1])
        h1 = h + 1
        while h1 < len(have) and joined(have[h:h1]) != text and \
                text.startswith(joined(have[h:h1])):
            h1 += 1
        if h >= len(have) or joined(have[h:h1]) != text:
            return h + 1, want[w0]
        if indent(have[h])[0] != indent(want[w0])[0] and text != '':
            return h + 1, want[w0]
        width = indent(have[h])[1]
        for c in range(h + 1, h1 if not text.startswith('#') else h + 1):
            lead, cwidth, _ = indent(have[c])
            if w0 + c - h < w1 and \
                    indent(want[w0 + c - h])[0] == indent(want[w0])[0]:
                ok = lead == indent(want[w0])[0]
            else:
                ok = cwidth > width and re.fullmatch(r'\t* {0,7}', lead)
            if not ok:
                return c + 1, want[min(w0 + c - h, w1 - 1)]
        h = h1
    if h != len(have):
        return h + 1, '<end of file>'
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clang-format', default='clang-format')
    ap.add_argument('files', nargs='+')
    args = ap.parse_args()
    if shutil.which(args.clang_format) is None:
        print('format-check: %s not found (scripts/install-deps installs '
              'clang-format-14)' % args.clang_format)
        return 2
    version = subprocess.run([args.clang_format, '--version'],
                             stdout=subprocess.PIPE, text=True).stdout
    if re.search(r'version 14\.', version) is None:
        print('format-check: .clang-format is written for clang-format 14, '
              '%s is %s; checking anyway' % (args.clang_format,
                                             version.strip()))
    with open(os.path.join(TOP, '.clang-format')) as f:
        style = f.read()
    flat_style, n = re.subn(r'(?m)^ContinuationIndentWidth:.*$',
                            'ContinuationIndentWidth: 0', style)
    if n != 1:
        print('format-check: .clang-format must set ContinuationIndentWidth '
              'once')
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as flat_dir:
        with open(os.path.join(flat_dir, '.clang-format'), 'w') as f:
            f.write(flat_style)
        for path in args.files:
            try:
                bad = check(args.clang_format, path, flat_dir)
            except (OSError, UnicodeDecodeError,
                    subprocess.CalledProcessError) as e:
                failed += 1
                print('%s: cannot check: %s' % (path, e))
                continue
            if bad is not None:
                failed += 1
                print('%s:%d: differs from .clang-format; wanted: %s'
                      % (path, bad[0], bad[1].strip()))
    if failed:
        print('format-check: %d of %d file(s) differ; `%s FILE | diff FILE -` '
              'shows all that differs, alignment gaps and continuation '
              'indentation included' % (failed, len(args.files),
                                        args.clang_format))
        return 1
    print('format-check: %d file(s) follow .clang-format' % len(args.files))
    return 0


if __name__ == '__main__':
    sys.exit(main())
