#!/usr/bin/env python3
"""Differential check of chat_template.cpp against the real Jinja templates.

Renders random conversations (all roles, whitespace of every Unicode kind, "/think" markers, quotes,
control characters; both valid and invalid role orders) with each template through the jinja2
package, configured as Hugging Face transformers configures it, and through infergate-chat-render,
and requires the same text, or an error from both. Also checks that each template text is detected
as the expected family, with render_defaults() supplying what the text implies.

  jinja_diff.py --harness build/.../infergate-chat-render [--data ../shared/data] [--cases 300]

Exit status 0: all agree; 1: a mismatch (the first few are printed); 77: jinja2 is not installed.
Templates of shared/data/chat-templates are used when --data has them; the others are the
well-known templates below, quoted from their model repositories.
"""
import argparse
import datetime
import json
import os
import random
import subprocess
import sys

try:
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print('jinja2 is not installed: skipping')
    sys.exit(77)


class Raised(Exception):
    pass


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers replaces Jinja's HTML-escaping tojson with plain json.dumps.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
ENV.filters['tojson'] = tojson
ENV.globals['raise_exception'] = raise_exception
ENV.globals['strftime_now'] = lambda fmt: datetime.datetime.now().strftime(fmt)

# meta-llama/Llama-2-7b-chat-hf
LLAMA2 = r"""{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"""
# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA30 = r"""{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"""
# microsoft/Phi-3.5-mini-instruct
PHI35 = r"""{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"""
# teknium/OpenHermes-2.5-Mistral-7B
OPENHERMES = r"""{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"""
# HuggingFaceTB/SmolLM2-1.7B-Instruct (not raw: real newlines in the literals, as its JSON decodes)
SMOLLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
# Qwen/Qwen2-7B-Instruct
QWEN2 = r"""{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"""
# google/gemma-3-4b-it (its text-content path)
GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Llama 3.2 takes its date from strftime_now; otherwise, for these messages, it is Llama 3.1's.
LLAMA32_DATE = ("{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n"
                "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n"
                "        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}")
LLAMA31_DATE = '{%- if not date_string is defined %}\n    {%- set date_string = "26 Jul 2024" %}\n{%- endif %}'


def templates(data_dir):
    """name -> (template text, expected family, bos_token, eos_token)."""
    result = {
        'llama2': (LLAMA2, 'llama2', '<s>', '</s>'),
        'llama3.0': (LLAMA30, 'llama3.0', '<|begin_of_text|>', '<|eot_id|>'),
        'phi3.5': (PHI35, 'phi3', '<s>', '<|endoftext|>'),
        'openhermes': (OPENHERMES, 'chatml', '<s>', '<|im_end|>'),
        'smollm2': (SMOLLM2, 'chatml', '', '<|im_end|>'),
        'qwen2': (QWEN2, 'chatml', '', '<|im_end|>'),
        'gemma3': (GEMMA3, 'gemma', '<bos>', '<eos>'),
    }
    files = {
        'qwen2.5': ('Qwen-Qwen2.5-7B-Instruct.jinja', 'qwen2.5', '', '<|im_end|>'),
        'llama3.1': ('meta-llama-Llama-3.1-8B-Instruct.jinja', 'llama3', '<|begin_of_text|>',
                     '<|eot_id|>'),
        'mistral-nemo': ('mistralai-Mistral-Nemo-Instruct-2407.jinja', 'mistral', '<s>', '</s>'),
        'gemma2': ('google-gemma-2-2b-it.jinja', 'gemma', '<bos>', '<eos>'),
        'smollm3': ('HuggingFaceTB-SmolLM3-3B.jinja', 'smollm3', '', '<|im_end|>'),
    }
    for name, (file, family, bos, eos) in files.items():
        path = os.path.join(data_dir or '', 'chat-templates', file)
        if not data_dir or not os.path.exists(path):
            print(f'{name}: {path} absent, not checked')
            continue
        with open(path, encoding='utf-8') as f:
            result[name] = (f.read(), family, bos, eos)
        if name == 'llama3.1' and LLAMA31_DATE in result[name][0]:
            result['llama3.2'] = (result[name][0].replace(LLAMA31_DATE, LLAMA32_DATE), family, bos,
                                  eos)
    return result


PIECES = ['Hello', 'x', ' ', '  ', '\n', '\n\n', '\t', '\r', '\x0b', '\x0c', '\x1c', '\x1f', '\x85',
          '\xa0', '\u1680', '\u2003', '\u2028', '\u202f', '\u3000', '\u200b', '\ufeff', '/think',
          '/no_think', '/no_thin', '"', '\\', "'", '\u00e9', '\u2600', '{"a": 1}', '\x01', '\x7f',
          '<|im_end|>', '\U0001F600', 'no_think', '//think']


def content(r):
    return ''.join(r.choice(PIECES) for _ in range(r.randrange(0, 6)))


def conversation(r):
    messages = []
    if r.random() < 0.5:  # the shape templates accept: optional system, then alternating turns
        if r.random() < 0.6:
            messages.append({'role': 'system', 'content': content(r)})
        for i in range(r.randrange(1, 7)):
            messages.append({'role': 'user' if i % 2 == 0 else 'assistant', 'content': content(r)})
            if r.random() < 0.15:
                messages.append({'role': 'tool', 'content': content(r)})
    else:  # anything
        for _ in range(r.randrange(1, 7)):
            messages.append({'role': r.choice(['system', 'user', 'assistant', 'tool']),
                             'content': content(r)})
    return messages


def jinja_render(compiled, request, extra):
    try:
        return True, compiled.render(messages=request['messages'],
                                     add_generation_prompt=request['add_generation_prompt'],
                                     bos_token=request['bos_token'],
                                     eos_token=request['eos_token'], **extra)
    except (Raised, TemplateError) as e:
        return False, str(e)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--harness', required=True)
    parser.add_argument('--data', default='')
    parser.add_argument('--cases', type=int, default=300, help='conversations per template')
    parser.add_argument('--seed', type=int, default=1234)
    args = parser.parse_args()

    r = random.Random(args.seed)
    cases = []
    for name, (text, family, bos, eos) in templates(args.data).items():
        for _ in range(args.cases):
            request = {'template': text, 'messages': conversation(r),
                       'add_generation_prompt': r.random() < 0.5, 'bos_token': bos,
                       'eos_token': eos}
            extra = {}
            if family == 'smollm3' and r.random() < 0.5:
                extra['enable_thinking'] = request['enable_thinking'] = False
            if name == 'llama3.1' and r.random() < 0.5:
                extra['date_string'] = request['date_string'] = '05 Mar 2025'
            cases.append((name, family, request, extra))

    lines = ''.join(json.dumps(c[2]) + '\n' for c in cases)
    done = subprocess.run([os.path.abspath(args.harness)], input=lines.encode(), capture_output=True, check=True)
    # Only '\n' ends a line: contents hold U+2028, U+0085 and friends.
    results = [json.loads(line) for line in done.stdout.decode().split('\n')[:-1]]
    if len(results) != len(cases):
        print(f'harness answered {len(results)} of {len(cases)} requests')
        return 1

    compiled = {}
    mismatches = 0
    stats = {}
    for (name, family, request, extra), ours in zip(cases, results):
        text = request['template']
        if text not in compiled:
            compiled[text] = ENV.from_string(text)
        ok, jinja = jinja_render(compiled[text], request, extra)
        s = stats.setdefault(name, [0, 0, 0])
        s[0] += 1
        s[1] += ok
        if ours['family'] == family and ours['ok'] == ok and (not ok or ours['out'] == jinja):
            continue
        s[2] += 1
        mismatches += 1
        if mismatches <= 5:
            print(f'MISMATCH {name}: add_generation_prompt={request["add_generation_prompt"]} '
                  f'{extra} messages={json.dumps(request["messages"])}')
            print(f'  jinja: ok={ok} {json.dumps(jinja)[:800]}')
            shown = ours['out'] if ours['ok'] else ours['error']
            print(f'  ours:  ok={ours["ok"]} family={ours["family"]} {json.dumps(shown)[:800]}')
    for name, (n, rendered, bad) in stats.items():
        print(f'{name:14s} {n:6d} conversations, {rendered:6d} rendered by Jinja, {bad} mismatches')
    print(f'{len(cases)} conversations, {mismatches} mismatches')
    return 1 if mismatches else 0


if __name__ == '__main__':
    sys.exit(main())
