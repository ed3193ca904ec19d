fn main() {
    println!("keepscope");
}
