import Foundation
import SieveCore
import Testing
@testable import SieveTokenizers

/// Chat templates of the common families, written here from their public text.
@Suite("chat templates")
struct ChatTemplateTests {
    /// SmolLM2-135M-Instruct's `tokenizer.chat_template` (ChatML with a default system prompt).
    static let smolLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    /// Qwen2-7B-Instruct's template.
    static let qwen2 = #"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"#

    /// Meta-Llama-3-8B-Instruct's template.
    static let llama3 = #"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"#

    /// Llama-2-7b-chat-hf's template.
    static let llama2 = #"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"#

    let conversation = [ChatMessage(role: "user", content: "Hi!"), ChatMessage(role: "assistant", content: "Hello! How can I help you today?"),
                        ChatMessage(role: "user", content: "What is 2+2?")]

    @Test("ChatML (SmolLM2) with the default system prompt and the generation prompt")
    func chatML() throws {
        let out = try ChatTemplate(Self.smolLM2).render(messages: conversation, addGenerationPrompt: true)
        #expect(out == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello! How can I help you today?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
        let withSystem = try ChatTemplate(Self.qwen2).render(messages: [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi")],
                                                             addGenerationPrompt: false)
        #expect(withSystem == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
    }

    @Test("Llama 3 header style")
    func llama3() throws {
        let out = try ChatTemplate(Self.llama3).render(messages: [ChatMessage(role: "system", content: "You are a bot. "), ChatMessage(role: "user", content: "Hi!")],
                                                       addGenerationPrompt: true, bosToken: "<|begin_of_text|>")
        #expect(out == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    @Test("Llama 2 [INST] style, and its refusal of a conversation that does not alternate")
    func llama2() throws {
        let template = try ChatTemplate(Self.llama2)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
                        ChatMessage(role: "assistant", content: "Hello"), ChatMessage(role: "user", content: "Bye")]
        let out = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        #expect(out == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]")
        #expect(throws: ChatTemplateError.raised(message: "Conversation roles must alternate user/assistant/user/assistant/...")) {
            try template.render(messages: [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")], addGenerationPrompt: false)
        }
    }

    /// Gemma 3 (google/gemma-3-*-it)'s template: the system prompt joins the first user turn, the assistant is
    /// `model`, content may be a string or a list of parts.
    static let gemma3 = #"""
    {{ bos_token }}
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
    """#

    @Test("Gemma 3: the system prompt joins the first user turn, the assistant speaks as model")
    func gemma3() throws {
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: " Hi! "),
                        ChatMessage(role: "assistant", content: "Hello!"), ChatMessage(role: "user", content: "What is 2+2?")]
        let out = try ChatTemplate(Self.gemma3).render(messages: messages, addGenerationPrompt: true, bosToken: "<bos>")
        #expect(out == "<bos><start_of_turn>user\nBe brief.\n\nHi!<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n")
    }

    /// Qwen2.5-Instruct's template (tools, tool calls and tool responses).
    static let qwen25 = #"""
    {%- if tools %}
        {{- '<|im_start|>system\n' }}
        {%- if messages[0]['role'] == 'system' %}
            {{- messages[0]['content'] }}
        {%- else %}
            {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
        {%- endif %}
        {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
        {%- for tool in tools %}
            {{- "\n" }}
            {{- tool | tojson }}
        {%- endfor %}
        {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
    {%- else %}
        {%- if messages[0]['role'] == 'system' %}
            {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
        {%- else %}
            {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
    {%- for message in messages %}
        {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
            {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
        {%- elif message.role == "assistant" %}
            {{- '<|im_start|>' + message.role }}
            {%- if message.content %}
                {{- '\n' + message.content }}
            {%- endif %}
            {%- for tool_call in message.tool_calls %}
                {%- if tool_call.function is defined %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '\n<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {{- tool_call.arguments | tojson }}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
            {{- '<|im_end|>\n' }}
        {%- elif message.role == "tool" %}
            {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
                {{- '<|im_start|>user' }}
            {%- endif %}
            {{- '\n<tool_response>\n' }}
            {{- message.content }}
            {{- '\n</tool_response>' }}
            {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
                {{- '<|im_end|>\n' }}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
    {%- if add_generation_prompt %}
        {{- '<|im_start|>assistant\n' }}
    {%- endif %}
    """#

    @Test("Qwen2.5 with tools, a tool call and a tool response")
    func qwen25() throws {
        let template = try ChatTemplate(Self.qwen25)
        let plain = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(plain == "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let tool: JinjaValue = .object([("type", .string("function")), ("function", .object([("name", .string("now")), ("parameters", .object([]))]))])
        let messages: JinjaValue = .array([
            .object([("role", .string("user")), ("content", .string("Time?"))]),
            .object([("role", .string("assistant")), ("content", .string("")),
                     ("tool_calls", .array([.object([("function", .object([("name", .string("now")), ("arguments", .object([("tz", .string("UTC"))]))]))])]))]),
            .object([("role", .string("tool")), ("content", .string("12:00"))]),
        ])
        let out = try template.render(["messages": messages, "tools": .array([tool]), "add_generation_prompt": .bool(true)])
        #expect(out == "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"now\", \"parameters\": {}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nTime?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"now\", \"arguments\": {\"tz\": \"UTC\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n12:00\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
    }

    @Test("whitespace control, trim_blocks and lstrip_blocks as Hugging Face sets them")
    func whitespace() throws {
        let dashed = """
        {%- for message in messages %}
            {%- if message.role == "user" %}
                {{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\\n' }}
        {%- endif %}
        """
        let messages = [ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "x"), ChatMessage(role: "user", content: "there")]
        #expect(try ChatTemplate(dashed).render(messages: messages, addGenerationPrompt: true)
                == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>user\nthere<|im_end|>\n<|im_start|>assistant\n")
        let blocks = """
        {% for m in messages %}
          {% if m.role == 'user' %}
        U: {{ m.content }}
          {% endif %}
        {% endfor %}
        """
        #expect(try ChatTemplate(blocks).render(messages: messages, addGenerationPrompt: false) == "U: hi\nU: there\n")
    }

    @Test("expressions, filters, tests, namespaces and loops")
    func expressions() throws {
        func render(_ source: String) throws -> String {
            try ChatTemplate(source).render(messages: conversation, addGenerationPrompt: true)
        }
        #expect(try render("{{ messages | length }} {{ messages[-1].content | upper }} {{ (messages | last)['role'] }}") == "3 WHAT IS 2+2? user")
        #expect(try render("{% set ns = namespace(n=0) %}{% for m in messages if m.role == 'user' %}{% set ns.n = ns.n + 1 %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}={{ ns.n }}") == "1/2,2/2=2")
        #expect(try render(#"{{ {'a': 1, 'b': [true, none, 'x"y']} | tojson }}"#) == #"{"a": 1, "b": [true, null, "x\"y"]}"#)
        #expect(try render("{{ undefined_name is defined }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 'ab' ~ 3 }} {{ 'x' in 'xyz' }} {{ [1, 2, 3][1:] }}") == "False 3 1 ab3 True [2, 3]")
        #expect(try render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }}") == "a=1;b=2;Hi!|What is 2+2?")
        #expect(try render("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}{{ '  pad  '.strip() }}") == "02pad")
        // String repetition: an empty string any number of times is empty at once (a fuzzer found 400 million
        // repetitions taking 15 s); a long result is refused by the size limit.
        #expect(try render("[{{ '' * 4009990000 }}]{{ 'ab' * 3 }}") == "[]ababab")
        #expect(throws: ChatTemplateError.self) { try render("{{ 'ab' * 4009990000 }}") }
    }

    @Test("unsupported Jinja is an error naming the construct")
    func unsupported() throws {
        #expect(throws: ChatTemplateError.unsupported(construct: "{% macro %}", line: 2)) {
            try ChatTemplate("hello\n{% macro greet(x) %}{{ x }}{% endmacro %}")
        }
        #expect(throws: ChatTemplateError.unsupported(construct: "filter 'frobnicate'", line: 1)) {
            try ChatTemplate("{{ messages | frobnicate }}").render(messages: [], addGenerationPrompt: false)
        }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate("{% if true %}never closed") }
        #expect(throws: TokenizerError.noChatTemplate) {
            try Tokenizer(TokenizerDescription(kind: .bytePairEncoding, tokens: ["a", "b", "ab"], merges: ["a b"], preTokenizer: "gpt-2"))
                .applyChatTemplate([ChatMessage(role: "user", content: "x")])
        }
    }
}
