"""Regexes for the output guardrail (`guardrails.py`), all over folded text.

Building blocks (numbers, spelled-out amounts, units, price cues, durations, days) and the
compiled rules built from them. This module only says what to match; `guardrails.py` decides
what a match means (context checks, negations, rule ids per kind) and is the one to import.
Every repeat is bounded so matching stays linear on long replies.
"""

from __future__ import annotations

import re

# --- building blocks (all over folded text) -------------------------------------------------

# A number standing on its own: "1.500,00", "12.900", "1500", "1,5". Not the tail of a model
# code ("fb300"), a phone ("98765-4321"), a CNPJ ("11.222.333/0001-81") or a date ("10/03").
_NUM = r"(?<![\w.,/(-])(?:\d{1,3}(?:\.\d{3}){1,4}(?:,\d{1,2})?|\d+(?:,\d{1,2})?)(?!\d|[.,/-]\d)"
_SCALE = r"(?:\s*(?:mil|milhao|milhoes|mi|k)\b)"

_UNIT_WORDS = (
    "um|uma|dois|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|onze|doze|treze|quatorze|"
    "catorze|quinze|dezesseis|dezessete|dezoito|dezenove|vinte|trinta|quarenta|cinquenta|"
    "sessenta|setenta|oitenta|noventa"
)
_HUNDRED_WORDS = (
    "cem|cento|duzent[oa]s|trezent[oa]s|quatrocent[oa]s|quinhent[oa]s|seiscent[oa]s|"
    "setecent[oa]s|oitocent[oa]s|novecent[oa]s"
)
_BIG_WORDS = rf"(?:mil|milhao|milhoes|{_HUNDRED_WORDS})"
_ANY_WORD = rf"(?:{_UNIT_WORDS}|{_HUNDRED_WORDS}|mil|milhao|milhoes)"
# "dez mil", "mil e quinhentos", "trezentos": a spelled-out amount big enough to be a price.
# "um"/"dois" alone are left out: "o preço depende de dois fatores" is not an amount.
# Repeats are bounded (no real amount has more than a few words) so matching stays linear.
_BIG_WORDNUM = (
    rf"\b(?:{_ANY_WORD}\s+(?:e\s+)?){{0,4}}{_BIG_WORDS}(?:\s+(?:e\s+)?{_ANY_WORD}){{0,4}}\b"
)
_ANY_WORDNUM = rf"\b{_ANY_WORD}(?:\s+(?:e\s+)?{_ANY_WORD}){{0,6}}\b"

# What follows a number that is a measure, a count or a rate, not money. A range ("de 300 a
# 350 hambúrgueres", "7 a 47 mm") carries the unit of its last number.
_UNIT = (
    r"(?:%|por\s*cento\b|x\b|kgs?\b|g\b|gr\b|gramas?\b|quilos?\b|t\b|ton\b|toneladas?\b|"
    r"l\b|lts?\b|litros?\b|ml\b|mm\b|cm\b|m\b|metros?\b|cv\b|hp\b|kw\b|w\b|watts?\b|v\b|"
    r"volts?\b|vac\b|hz\b|bar\b|psi\b|°|graus?\b|h\b|hs\b|horas?\b|min\b|minutos?\b|"
    r"segundos?\b|dias?\b|semanas?\b|mes\b|meses\b|anos?\b|turnos?\b|ciclos?\b|"
    r"hamburguer(?:es|s)?\b|burgers?\b|unidades?\b|un\b|und\b|pcs?\b|pecas?\b|espetos?\b|"
    r"espetinhos?\b|bifes?\b|cubos?\b|tiras?\b|fatias?\b|porcoes?\b|salsichas?\b|"
    r"linguicas?\b|moldes?\b|facas?\b|bicos?\b|velocidades?\b|fases?\b|clientes?\b|"
    r"lojas?\b|funcionarios?\b|operadores?\b|pessoas?\b|maquinas?\b|equipamentos?\b|"
    r"modelos?\b|frangos?\b|carcacas?\b|cabecas?\b|vezes\b|pedidos?\b|refeicoes\b|"
    r"parcelas?\b|prestacoes\b|"
    r"estados\b|cidades\b|paises\b|fatores\b|itens\b|opcoes\b|etapas\b|passos\b|motivos\b|"
    r"tipos\b|tamanhos\b|perguntas\b|vagas\b|produtos\b|linhas\b|"
    r"diari[oa]s?\b|mensais\b|semanais\b|por\s+(?:hora|h|dia|mes|semana|turno|minuto|ciclo)\b|"
    r"ao\s+dia\b|/|\s*\d{4,5}-?\d{4}\b)"
)
# An amount: digits with an optional scale, taken whole ("3 mil" never backs off to "3" to
# dodge the unit check on "3 mil por hora"), or a large spelled-out amount.
_AMOUNT = rf"{_NUM}(?>{_SCALE}?)"
_WORD_AMOUNT = rf"(?>{_BIG_WORDNUM})"
_RANGE_TAIL = rf"(?:\s*(?:a|e|ou|-|–|ate)\s*{_AMOUNT})?"
_NOT_A_MEASURE = rf"(?!{_RANGE_TAIL}\s*{_UNIT})"

# Bare four-digit years ("março de 2026") are dates, never amounts after a weak price word.
YEAR = re.compile(r"(?:19|20)\d{2}")

# How far a price word reaches: up to six words, never past the end of a sentence. A word may
# hold a dot only inside it ("9.990"), so "." followed by a space ends the reach.
_WORD = r"(?:[^\s.!?;]|\.(?=\S))+"
_GAP = rf"(?:\s*[:=–-]?\s*(?:{_WORD}\s+){{0,6}}?)"

_STRONG_PRICE_CUES = (
    r"precos?|valor(?:es)?|custa(?:m|ria|riam|ra)?|custos?|investimento|orcamento|"
    r"sai(?:em|ria|riam)?\s+(?:por|a)|por\s+(?:apenas|so|somente)|parcelas?|entrada|"
    r"mensalidade|pag(?:a|am|ou|aram|ar|aria|ando|uei)"
)
_WEAK_PRICE_CUES = (
    r"a\s+partir\s+de|em\s+torno\s+de|na\s+(?:faixa|casa)\s+d(?:e|os|as)|"
    r"fica(?:m|ria|riam)?\s+(?:em|por)|sai(?:em|ria)?\s+em"
)
_PAYMENT_TAIL = (
    r"(?:a\s+vista|no\s+(?:pix|boleto|cartao|dinheiro)|parcelad[oa]|mais\s+frete|\+\s*frete|"
    r"fora\s+o\s+frete|cada\s+(?:uma|um|maquina))\b"
)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


# --- price ----------------------------------------------------------------------------------

PRICE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "R$ 1.500,00", "R$1500", "r$ 2 mil", "US$ 3.000", "U$ 500", "€ 200", "R$ dez mil"
    ("price.currency_symbol", _rx(rf"(?:\$|€|\b(?:brl|usd|eur)\b)\s*(?:\d|{_ANY_WORD}\b)")),
    # "1.500 reais", "80 mil reais", "mil e quinhentos reais", "3 mil dólares", "2 milhões de reais"
    (
        "price.currency_word",
        _rx(
            rf"(?:{_AMOUNT}|{_ANY_WORDNUM})\s+(?:de\s+)?(?:reais|dolares|dolar|euros?|contos?|pilas?|paus(?!\s+de\b)|mangos?)\b"
        ),
    ),
    # "na casa dos seis dígitos": the size of an amount is still a price.
    ("price.digit_count", _rx(r"\b(?:\d|quatro|cinco|seis|sete)\s+digitos\b")),
    # "12x de 150", "10 x R$ 99", "12 vezes de 300"; "3x220 V" (three-phase) is a voltage.
    (
        "price.instalment_amount",
        _rx(
            rf"(?<![\w.,])\d{{1,2}}\s*(?:x|vezes)\s*(?:de\s+)?(?:r\$\s*)?{_AMOUNT}{_NOT_A_MEASURE}"
        ),
    ),
    # "27 e quinhentos", "12 e novecentos": spoken thousands and hundreds, always money.
    (
        "price.spoken_thousands",
        _rx(rf"(?<![\w.,])\d{{1,3}}\s+e\s+(?>{_HUNDRED_WORDS})\b{_NOT_A_MEASURE}"),
    ),
    # "1.500,00": thousands and cents is an amount whatever the words around it.
    (
        "price.cents_amount",
        _rx(rf"(?<![\w.,/-])\d{{1,3}}(?:\.\d{{3}}){{1,4}},\d{{2}}\b{_NOT_A_MEASURE}"),
    ),
    # "15.900 à vista", "9 mil no boleto", "1.200 por mês no cartão"
    (
        "price.amount_with_payment",
        _rx(rf"{_AMOUNT}(?:\s+por\s+mes)?,?\s+{_PAYMENT_TAIL}"),
    ),
    # "custa 2 mil", "preço: 9.990", "valor de 4.500", "parcelas de 300", "custa dez mil"
    (
        "price.cue_amount",
        _rx(
            rf"\b(?:{_STRONG_PRICE_CUES})\b{_GAP}"
            rf"(?:{_AMOUNT}{_NOT_A_MEASURE}|{_WORD_AMOUNT}{_NOT_A_MEASURE})"
        ),
    ),
)

# Weak cues ("a partir de", "em torno de", "fica em", and "por" right before the number) also
# introduce dates and throughputs, so the number must look like money (see _money_shaped).
WEAK_CUE_AMOUNT = _rx(
    rf"\b(?:{_WEAK_PRICE_CUES})\b{_GAP}(?P<amount>{_AMOUNT}|{_WORD_AMOUNT}){_NOT_A_MEASURE}"
)
BY_AMOUNT = _rx(rf"\bpor\s+(?P<amount>{_AMOUNT}){_NOT_A_MEASURE}")
# "15 mil", "15k", "1,5 mil" with no quantity after it: money, unless it is an output figure.
BARE_THOUSANDS = _rx(
    rf"{_NUM}\s*(?:mil|k|mi)\b{_NOT_A_MEASURE}"
    r"(?!\s+de\s+(?!reais|entrada|investimento|desconto|parcela))"
    # "Qual a sua produção? 2 mil? 3 mil?" asks about volume; a price would not be asked.
    r"(?!\s*\?)"
)
OUTPUT_CONTEXT = _rx(
    r"\b(?:produz\w*|faz|fazem|fabrica\w*|processa\w*|molda\w*|forma|formam|chega\s+a|"
    r"chegam\s+a|atinge\w*|rende\w*|capacidade|producao|volume|demanda)\b"
)


# --- discount -------------------------------------------------------------------------------

_DISCOUNT_OFFER_VERBS = (
    r"dou|damos|dar|daria|darei|daremos|temos|tem|ha|oferecemos|oferece|ofereco|consigo|"
    r"conseguimos|consegue|posso|podemos|fazemos|faco|faz|rola|ganha|ganham|garanto|garantimos|"
    r"aplico|aplicamos|com|inclui|incluimos|libero|liberamos|sai\s+com"
)
DISCOUNT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "10% de desconto", "5% off", "15 por cento de abatimento", "com 10% a menos", "5% mais barato"
    (
        "discount.percent",
        _rx(
            r"\d+(?:,\d+)?\s*(?:%|por\s*cento)\s*(?:de\s+)?"
            r"(?:desconto|off\b|abatimento|a\s+menos|mais\s+barat[oa])"
        ),
    ),
    ("discount.off", _rx(r"(?<![\w.,])\d+\s*(?:%\s*)?off\b")),
    # "desconto de 10%", "desconto à vista", "desconto especial", "desconto no pix"
    (
        "discount.terms",
        _rx(
            r"\bdescontos?\s+(?:de\s+(?:ate\s+)?\d|\d|a\s+vista|"
            r"no\s+(?:pix|boleto|cartao|dinheiro)|(?:para|pra)\s+(?:pagamento|voce|pagar)|"
            r"especial|progressivo|exclusivo|na\s+compra|bom|legal|camarada)"
        ),
    ),
    ("discount.rebate", _rx(r"\babatimentos?\b|\bdescontinho\b")),
    # "pagando à vista sai mais barato": a cash discount without a figure.
    (
        "discount.cheaper_if",
        _rx(
            r"\b(?:a\s+vista|pagando|no\s+pix|no\s+boleto|fechando|comprando|levando)\b"
            r"(?:\s+[^\s.!?;]+){0,4}?\s+(?:sai|fica|ficam|saem)\s+mais\s+"
            r"(?:barat[oa]s?|em\s+conta)\b|"
            r"\bmais\s+(?:barat[oa]s?|em\s+conta)\s+(?:\w+\s+){0,2}?"
            r"(?:a\s+vista|pagando|no\s+pix|no\s+boleto|fechando|comprando|levando)\b"
        ),
    ),
    ("discount.percent_less", _rx(r"\b(?:a\s+menos|mais\s+barat[oa])\s+n[oa]\s+(?:preco|valor)")),
    (
        "discount.special_condition",
        _rx(r"\bcondic(?:ao|oes)\s+especia(?:l|is)\s+(?:de\s+)?(?:ate\s+)?\d+(?:,\d+)?\s*%"),
    ),
    # Interest-free instalments are a commercial condition only the specialist may state.
    ("discount.interest_free", _rx(r"\bsem\s+(?:juros|acrescimo)\b")),
    # "em 6 parcelas", "em até 10x": the number of instalments is a payment condition. With an
    # amount after it ("12x de 150") it is reported as a price instead.
    (
        "discount.instalment_count",
        _rx(
            r"\b(?:em|ate)\s+(?:ate\s+)?\d{1,2}\s*(?:x|vezes|parcelas|prestacoes)\b"
            r"(?!\s*(?:de\s+|no\s+valor\s+de\s+)?(?:r\$\s*)?\d)"
        ),
    ),
    # "dou 5% se fechar agora", "consigo tirar uns 2 mil do valor"
    (
        "discount.amount_off",
        _rx(
            r"\b(?:dou|damos|dar|daria|consigo|conseguimos|faco|fazemos|tiro|tiramos|abato|"
            r"abatemos|garanto)\s+(?:te\s+|lhe\s+|pra\s+voce\s+|para\s+voce\s+)?"
            # ... but not "consigo 30% a mais de produção", "damos 20% de aumento"
            r"(?:uns\s+|ate\s+)?\d+(?:,\d+)?\s*%(?!\s*(?:a\s+)?mais\b|\s+de\s+(?!desconto))|"
            rf"\b(?:tir|abat|desc|reduz|baix)\w*\s+(?:uns\s+|ate\s+)?(?:{_AMOUNT}|\d+\s*%)\s+"
            r"(?:d[oa]|n[oa])\s+(?:valor|preco|total|proposta)"
        ),
    ),
    # "a gente faz um preço especial", "valor diferenciado"
    (
        "discount.special_price",
        _rx(
            r"\b(?:preco|valor)\s+(?:especial|diferenciad[oa]|camarada|de\s+amigo)\b|"
            r"\b(?:faz|fazemos|faco|temos|tem|consigo|damos|dou|oferecemos)\s+(?:\w+\s+){0,2}?"
            r"condic(?:ao|oes)\s+(?:especia(?:l|is)|diferenciad[ao]s?)\b"
        ),
    ),
    (
        "discount.free_extra",
        _rx(
            r"\b(?:frete|instalacao|entrega|molde|moldes|treinamento)\s+(?:\w+\s+){0,2}?"
            r"(?:gratis|gratuit[oa]s?|de\s+graca|por\s+nossa\s+conta|cortesia)\b"
        ),
    ),
    (
        "discount.promotion",
        _rx(
            r"\b(?:em|na|de|numa|uma)\s+promocao\b|\bpromocional\b|\bblack\s*friday\b|"
            r"\bqueima\s+de\s+estoque\b|\bcupom\b"
        ),
    ),
)


# "dou um desconto", "temos desconto", "consigo um bom desconto", "com desconto". A refusal
# ("não tenho como dar desconto por aqui") leaks nothing, so a "não"/"nem" just before is fine.
DISCOUNT_OFFER = _rx(
    rf"\b(?:{_DISCOUNT_OFFER_VERBS})\s+(?:(?:um|uma|o|a|esse|este|nosso|seu|te|lhe|voce|"
    r"pra\s+voce|para\s+voce)\s+)?(?:(?:bom|belo|otimo|pequeno|super|grande|baita)\s+)?"
    r"(?:descontos?|descontinho)\b"
)
NEGATION = _rx(r"\b(?:nao|nem|sem|nunca)\b")


# --- lead time ------------------------------------------------------------------------------

_COUNT = (
    r"(?:\d{1,3}|um|uma|dois|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|doze|quinze|vinte|"
    r"trinta|quarenta|quarenta\s+e\s+cinco|sessenta|noventa|poucos|poucas|alguns|algumas)"
)
_LONG_DURATION = (
    rf"{_COUNT}(?:\s*(?:a|e|ou|-|–)\s*{_COUNT})?\s*"
    r"(?:dias?(?:\s+(?:uteis|corridos))?|semanas?|mes(?:es)?)\b"
)
_SHORT_DURATION = rf"{_COUNT}(?:\s*(?:a|e|ou|-)\s*{_COUNT})?\s*(?:h|hs|horas?)\b"
_DELIVERY_CUES = (
    r"entreg\w*|despach\w*|envi(?:amos|aremos|ada|ado|ados|adas)|embarc\w*|"
    r"cheg(?:a|am|ara|arao|aria|ariam)|pront[ao]s?|fabric\w*|produzid[ao]s?|montad[ao]s?|"
    r"prazo(?!\s+de\s+garantia)|leva|levam|demora|demoram|sai|saem|postamos|instalamos"
)
_SHIPPING_CUES = r"entreg\w*|despach\w*|envi(?:amos|aremos|ada|ado)|embarc\w*|postamos"
_WHEN = r"(?:hoje|amanha|essa\s+semana|esta\s+semana|nesta\s+semana|semana\s+que\s+vem|"
_WHEN += r"proxima\s+semana|mes\s+que\s+vem|no\s+mesmo\s+dia|(?:ainda\s+)?(?:n?est|n?ess)e\s+mes|"
_WHEN += r"ate\s+o\s+(?:fim|final)\s+d[oa]\s+(?:mes|semana)|"
_WHEN += r"(?:antes|ate|ainda)\s+(?:d[oa]|o|a)\s+(?:natal|carnaval|pascoa|ano\s+novo|"
_WHEN += r"(?:fim|final|virada)\s+do\s+ano)|ate\s+(?:o\s+)?dia\s+\d{1,2}|"
_WHEN += r"(?:em|ate|no\s+(?:inicio|comeco|fim|final)\s+de)\s+(?:janeiro|fevereiro|marco|abril|"
_WHEN += r"maio|junho|julho|agosto|setembro|outubro|novembro|dezembro)|"
_WHEN += r"(?:n[ao]\s+)?(?:segunda|terca|quarta|quinta|sexta|sabado)(?:-feira)?(?:\s+que\s+vem)?)\b"

LEAD_TIME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("lead_time.shipping_hours", _rx(rf"\b(?:{_SHIPPING_CUES})\b{_GAP}{_SHORT_DURATION}")),
    # "pronta entrega", "entrega imediata", "despachamos amanhã"
    (
        "lead_time.immediate",
        _rx(
            r"\bpronta[\s-]+entrega\b|\bentrega\s+(?:imediata|rapida|expressa)\b|"
            r"\b(?:envio|despacho|embarque)\s+imediato\b|\bimediatamente\s+disponivel\b|"
            r"\bem\s+estoque\b|\bestoque\s+(?:disponivel|imediato|a\s+pronta)\b"
        ),
    ),
    ("lead_time.shipping_day", _rx(rf"\b(?:{_SHIPPING_CUES})\b(?:\s+{_WORD}){{0,3}}?\s+{_WHEN}")),
)
# "entrega em 15 dias", "prazo de fabricação de 60 dias", "fica pronta em 20 dias". Not when the
# duration is a warranty or a training ("chega com 6 meses de garantia") or the thing that
# arrives is the proposal ("entregamos a proposta em 2 dias").
CUE_DURATION = _rx(rf"\b(?:{_DELIVERY_CUES})\b{_GAP}{_LONG_DURATION}")
# The same the other way round: "são 20 dias para a máquina ficar pronta", "em 20 dias ela está
# na sua fábrica".
DURATION_CUE = _rx(
    rf"{_LONG_DURATION}\s+(?:{_WORD}\s+){{0,5}}?(?:entreg\w*|pront[ao]s?|cheg\w*|despach\w*|"
    r"(?:na|ate\s+a)\s+sua\s+(?:fabrica|empresa|loja|cozinha|porta))\b"
)
# "em uns 20 dias ela está rodando na sua produção": the machine working is the delivery.
DURATION_RUNNING = _rx(
    rf"\bem\s+(?:uns\s+|umas\s+|ate\s+|cerca\s+de\s+)?{_LONG_DURATION}\s+(?:{_WORD}\s+){{0,4}}?"
    r"(?:rodando|funcionando|operando|produzindo|instalad[ao]s?)\b"
)
NOT_DELIVERY = _rx(
    r"\b(?:garantia|treinamento|curso|teste|proposta|orcamento|retorno|resposta|catalogo)\b"
)
# "a máquina chega amanhã" is a promise; "a proposta chega amanhã" is about the specialist.
ARRIVAL_DAY = _rx(
    rf"\b(?:cheg(?:a|am|ara)|fica\s+pront[ao]s?|pront[ao]s?)\b(?:\s+{_WORD}){{0,3}}?\s+{_WHEN}"
)
# "em até 45 dias", "dentro de 30 dias", "10 dias úteis": a duration promised with no delivery
# word. Skipped when the clause is about the specialist getting back ("retorna em até 2 dias").
# The same with the day first: "até o fim do mês chega aí", "semana que vem fica pronta".
DAY_ARRIVAL = _rx(
    rf"{_WHEN}(?:\s+{_WORD}){{0,3}}?\s+(?:cheg(?:a|am|ara)|fica\s+pront[ao]s?|"
    r"(?:a\s+gente\s+|nos\s+)?(?:entreg|despach|envi)(?:a|amos|aremos|o))\b"
)
GENERIC_DURATION = _rx(
    rf"\b(?:em\s+ate|dentro\s+de|no\s+maximo\s+em|no\s+prazo\s+de)\s+{_LONG_DURATION}|"
    rf"{_COUNT}\s*dias\s+uteis\b"
)
CONTACT_CONTEXT = _rx(
    r"\b(?:especialista|retorn\w*|respond\w*|respost\w*|contato|lig\w*|atendimento|"
    r"orcamento|proposta|consultor|vendedor)\b"
)


# --- questions ------------------------------------------------------------------------------

# Links carry "?" in their query strings ("...?utm_source=wa"); they are not questions.
URL = _rx(r"\bhttps?://\S+|\bwww\.\S+|(?<!\S)[^\s?]+\?[\w-]+=\S*")
QUESTION_RUN = _rx(r"\?[?!]*")
