; ModuleID = "golden"
target triple = "unknown-unknown-unknown"
target datalayout = ""

@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr}
@"rpsc.trap_env" = internal global ptr null
declare i32 @"_setjmp"(ptr %".1") returns_twice

declare void @"longjmp"(ptr %".1", i32 %".2") noreturn

define internal void @"rpsc.trap"(i32 %"code", ptr %"function", ptr %"location") cold noinline noreturn nounwind optnone
{
entry:
  %".5" = icmp ne ptr %"function", null
  br i1 %".5", label %"record", label %"throw"
record:
  %".7" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 4
  store ptr %"function", ptr %".7"
  %".9" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 5
  store ptr %"location", ptr %".9"
  br label %"throw"
throw:
  %"env" = load ptr, ptr @"rpsc.trap_env"
  call void @"longjmp"(ptr %"env", i32 %"code")
  unreachable
}

define internal fastcc i64 @"rpsfn_6669620000000000.body"(i32 %"room", i64 %"n")
{
entry:
  %"n.addr" = alloca i64
  %"too_deep" = icmp slt i32 %"room", 1
  br i1 %"too_deep", label %"trap.3", label %"start", !prof !0
start:
  store i64 %"n", ptr %"n.addr"
  br label %"b.entry"
trap.3:
  call void @"rpsc.trap"(i32 3, ptr @".str.0", ptr @".str.1")
  unreachable
b.entry:
  %"n.1" = load i64, ptr %"n.addr"
  %"c" = icmp slt i64 %"n.1", 2
  br i1 %"c", label %"b.then", label %"b.endif"
b.then:
  ret i64 %"n.1"
b.endif:
  %"n.2" = load i64, ptr %"n.addr"
  %"t" = sub i64 %"n.2", 1
  %".11" = sub i32 %"room", 1
  %"res" = call fastcc i64 @"rpsfn_6669620000000000.body.1"(i32 %".11", i64 %"t")
  %"t.1" = sub i64 %"n.2", 2
  %".12" = sub i32 %"room", 1
  %"res.1" = call fastcc i64 @"rpsfn_6669620000000000.body.1"(i32 %".12", i64 %"t.1")
  %"t.2" = add i64 %"res", %"res.1"
  ret i64 %"t.2"
}

define internal fastcc i64 @"rpsfn_6669620000000000.body.1"(i32 %"room", i64 %"n")
{
entry:
  %"n.addr" = alloca i64
  %"too_deep" = icmp slt i32 %"room", 1
  br i1 %"too_deep", label %"trap.3", label %"start", !prof !0
start:
  store i64 %"n", ptr %"n.addr"
  br label %"b.entry"
trap.3:
  call void @"rpsc.trap"(i32 3, ptr @".str.0", ptr @".str.1")
  unreachable
b.entry:
  %"n.1" = load i64, ptr %"n.addr"
  %"c" = icmp slt i64 %"n.1", 2
  br i1 %"c", label %"b.then", label %"b.endif"
b.then:
  ret i64 %"n.1"
b.endif:
  %"n.2" = load i64, ptr %"n.addr"
  %"t" = sub i64 %"n.2", 1
  %".11" = sub i32 %"room", 1
  %"res" = call fastcc i64 @"rpsfn_6669620000000000.body.2"(i32 %".11", i64 %"t")
  %"t.1" = sub i64 %"n.2", 2
  %".12" = sub i32 %"room", 1
  %"res.1" = call fastcc i64 @"rpsfn_6669620000000000.body.2"(i32 %".12", i64 %"t.1")
  %"t.2" = add i64 %"res", %"res.1"
  ret i64 %"t.2"
}

define internal fastcc i64 @"rpsfn_6669620000000000.body.2"(i32 %"room", i64 %"n")
{
entry:
  %"n.addr" = alloca i64
  %"too_deep" = icmp slt i32 %"room", 1
  br i1 %"too_deep", label %"trap.3", label %"start", !prof !0
start:
  store i64 %"n", ptr %"n.addr"
  br label %"b.entry"
trap.3:
  call void @"rpsc.trap"(i32 3, ptr @".str.0", ptr @".str.1")
  unreachable
b.entry:
  %"n.1" = load i64, ptr %"n.addr"
  %"c" = icmp slt i64 %"n.1", 2
  br i1 %"c", label %"b.then", label %"b.endif"
b.then:
  ret i64 %"n.1"
b.endif:
  %"n.2" = load i64, ptr %"n.addr"
  %"t" = sub i64 %"n.2", 1
  %".11" = sub i32 %"room", 1
  %"res" = call fastcc i64 @"rpsfn_6669620000000000.body"(i32 %".11", i64 %"t")
  %"t.1" = sub i64 %"n.2", 2
  %".12" = sub i32 %"room", 1
  %"res.1" = call fastcc i64 @"rpsfn_6669620000000000.body"(i32 %".12", i64 %"t.1")
  %"t.2" = add i64 %"res", %"res.1"
  ret i64 %"t.2"
}

define i32 @"rpsfn_6669620000000000"(ptr %"result", i64 %"n") noinline optnone
{
entry:
  %"jmpbuf" = alloca [512 x i8], align 16
  %"outer" = load ptr, ptr @"rpsc.trap_env"
  %".4" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1
  %"depth" = load i32, ptr %".4"
  %".5" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 2
  %"limit" = load i32, ptr %".5"
  %"code" = call i32 @"_setjmp"(ptr %"jmpbuf")
  %".6" = icmp eq i32 %"code", 0
  br i1 %".6", label %"run", label %"trapped"
run:
  store ptr %"jmpbuf", ptr @"rpsc.trap_env"
  %"room" = sub i32 %"limit", %"depth"
  %"value" = call fastcc i64 @"rpsfn_6669620000000000.body"(i32 %"room", i64 %"n") noinline
  store ptr %"outer", ptr @"rpsc.trap_env"
  %".14" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1
  store i32 %"depth", ptr %".14"
  store i64 %"value", ptr %"result"
  ret i32 0
trapped:
  store ptr %"outer", ptr @"rpsc.trap_env"
  %".9" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1
  store i32 %"depth", ptr %".9"
  ret i32 %"code"
}

@".str.0" = private unnamed_addr constant [4 x i8] c"fib\00"
@".str.1" = private unnamed_addr constant [10 x i8] c"t.rps:1:1\00"
!0 = !{ !"branch_weights", i32 1, i32 1048576 }