"""OIDs of RefPerSys's well-known core objects, as upstream defines them (facts from its stores)."""

from __future__ import annotations

from rpsrt.model.oid import Oid

INITIAL_SPACE = Oid.parse("_8J6vNYtP5E800eCr5q")
SYSTEM = Oid.parse("_1Io89yIORqn02SXx4p")  # RefPerSys_system

OBJECT = Oid.parse("_5yhJGgxLwLp00X0xEQ")
CLASS = Oid.parse("_41OFI3r0S1t03qdB2E")
SYMBOL = Oid.parse("_36I1BY2NetN03WjrOv")
NAMED_ATTRIBUTE = Oid.parse("_4pSwobFHGf301Qgwzh")
NAMED_SELECTOR = Oid.parse("_0cSUtWqTYdZ00mjeNR")
SPACE = Oid.parse("_2i66FFjmS7n03HNNBx")
MUTABLE_SET = Oid.parse("_0J1C39JoZiv03qA2HA")
STRING_DICTIONARY = Oid.parse("_3FztYBKABxZ02DUPRm")
AGENDA = Oid.parse("_3s7ztCCoJsj04puTdQ")
ENVIRONMENT = Oid.parse("_5LMLyzRp6kq04AMM8a")
FUNCTION = Oid.parse("_9BnrMLXUhfG00llx8X")
VALUE = Oid.parse("_6XLY6QfcDre02922jz")
INT = Oid.parse("_2A2mrPpR3Qf03p6o5b")
DOUBLE = Oid.parse("_98sc8kSOXV003i86w5")
STRING = Oid.parse("_62LTwxwKpQ802SsmjE")
SET = Oid.parse("_6JYterg6iAu00cV9Ye")
TUPLE = Oid.parse("_6NVM7sMcITg01ug5TC")
CLOSURE = Oid.parse("_4jISxMJ4PYU0050nUl")
JSON = Oid.parse("_3GHJQW0IIqS01QY8qD")
IMMUTABLE_INSTANCE = Oid.parse("_6ulDdOP2ZNr001cqVZ")

#: Attributes.
NAME = Oid.parse("_1EBVGSfW2m200z18rx")  # the `name` attribute
COMMENT = Oid.parse("_0jdbikGJFq100dgX1n")
CONSTANT = Oid.parse("_2aNcYqKwdDR01zp0Xp")
